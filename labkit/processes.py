"""Processes the lab starts: whether a pid is still ours, and waiting for one to be ready."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from labkit.net import ServerUnavailable, http_ok


def alive(pid: int) -> bool:
    """Running, not merely a zombie: the lab's processes outlive the command that started them
    and are reparented to an init that may reap them late, and a zombie still answers kill(pid, 0).
    """
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def start_time(pid: int) -> str:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22); "" if gone.
    A pid and its start time name one process: a recycled pid has another start time."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def log_tail(log: Path, size: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"


def wait_ready(
    what: str,
    ready: Callable[[], bool],
    running: Callable[[], bool],
    log: Path,
    timeout: float = 60,
) -> None:
    """Poll `ready` until it is true; fail at once (with the log's tail) if the process stopped
    running, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not running():
            raise ServerUnavailable(f"{what} exited on start ({log}):\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise ServerUnavailable(
                f"{what} not ready after {timeout:.0f}s ({log}):\n{log_tail(log)}"
            )
        time.sleep(0.1)


@contextlib.contextmanager
def running_server(name: str, command: list[str], ready_url: str, log_path: Path) -> Iterator[None]:
    """Run `command` (its output to `log_path`) until the block ends; enter the block once
    `ready_url` answers 200. A server that exits first fails with the log's tail."""
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(
            name, lambda: http_ok(ready_url), lambda: process.poll() is None, log_path, timeout=30
        )
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
