"""The Faultline API and control service as processes: migrations and the catalogue through the
CLI (as compose's `migrate` job does), and `faultline serve` / `faultline control` on a port, for
the native lab, the tests that need a separate process (outages, signals) and the benchmarks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from labkit.net import free_port, http_ok
from labkit.processes import wait_ready


def faultline_command(*args: str) -> list[str]:
    """The `faultline` CLI of this interpreter's environment (the project's virtualenv)."""
    return [sys.executable, "-m", "faultline.cli", *args]


def serve_command(command: str, port: int) -> list[str]:
    """`faultline serve` (the API) or `faultline control` on loopback."""
    return faultline_command(command, "--host", "127.0.0.1", "--port", str(port))


def faultline_cli(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        faultline_command(*args),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"faultline {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def prepare_database(database_url: str, catalogue_size: int) -> None:
    env = {"DATABASE_URL": database_url}
    faultline_cli("migrate", env=env)
    faultline_cli("seed", "--size", str(catalogue_size), env=env)


def process_env(database_url: str, redis_url: str, token: str, **extra: str) -> dict[str, str]:
    """What a control service and its API replicas share in a test lab of real processes."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FAULTLINE_ADMIN_TOKEN": token,
        "STOCK_REPLENISH_INTERVAL_SECONDS": "0",
        "OTEL_SDK_DISABLED": "true",
        "LOG_JSON": "true",
        **extra,
    }


@contextlib.contextmanager
def running_api(env: dict[str, str], log_path: Path, command: str = "serve") -> Iterator[str]:
    """Start `faultline serve` (or `control`) on a free port; yield its URL once it answers."""
    with api_process(env, log_path, command) as (base_url, _):
        yield base_url


@contextlib.contextmanager
def api_process(
    env: dict[str, str], log_path: Path, command: str = "serve"
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As running_api, and the process too, for tests that signal it themselves."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            serve_command(command, port),
            # No drain by default: nothing balances load in front of a test API.
            env={**os.environ, "ENVIRONMENT": "test", "SHUTDOWN_DRAIN_SECONDS": "0", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(
                f"faultline {command}",
                lambda: http_ok(f"{base_url}/health/live", timeout=1),
                lambda: process.poll() is None,
                log_path,
                timeout=30,
            )
            yield base_url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
