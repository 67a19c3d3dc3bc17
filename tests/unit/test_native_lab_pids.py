"""`make down` stops only what `make up` started: a pid file whose process is gone, and whose pid
now belongs to someone else, must not get that process killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from labkit.processes import start_time
from tests.support.native_lab import LAB_SCRIPT


def run_lab(lab_dir: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAULTLINE_LAB_DIR": str(lab_dir), "FAULTLINE_LAB_PORT_OFFSET": "3000"}
    return subprocess.run(
        [sys.executable, str(LAB_SCRIPT), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_down_never_signals_a_process_it_did_not_start(tmp_path: Path) -> None:
    # A process of someone else's that now has the pid a lab component once had (a reused pid
    # after a crash or a reboot). Its own session, as the lab's components have.
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        pids = tmp_path / "pids"
        pids.mkdir()
        (pids / "redis.pid").write_text(f"{stranger.pid} 12345")  # another start time
        (pids / "loadgen.pid").write_text(str(stranger.pid))  # a pid alone proves nothing
        result = run_lab(tmp_path, "down")
        assert result.returncode == 0, result.stderr
        assert stranger.poll() is None, "make down killed a process the lab did not start"
        assert not list(pids.glob("*.pid"))  # the stale files are gone
    finally:
        stranger.kill()
        stranger.wait()


def test_a_pid_file_names_the_process_and_when_it_started() -> None:
    own = os.getpid()
    started = start_time(own)
    assert started.isdigit()
    assert start_time(2**22 + 1) == ""  # above pid_max: no such process
