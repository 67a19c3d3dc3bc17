"""The in-process driver behind `make bench-instructions` (bench/asgi_driver.py), run directly
(not under valgrind, which would take minutes) against the real PostgreSQL and Redis: it starts
the API, reads every product, then the requested number of random ones, all answered 200, each
logged once. Guards the benchmark tool against drifting away from the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from labkit.net import free_port
from labkit.servers import Redis
from tests.integration.conftest import SEEDED_PRODUCTS

ROOT = Path(__file__).resolve().parents[2]


def test_the_instruction_benchmark_driver_reads_through_the_whole_app(
    database_url: str, redis_server: Redis
) -> None:
    redis_url = f"{redis_server.url.rstrip('/')}/9"  # its own database: its own cache fill
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ENVIRONMENT": "test",
        "LOG_JSON": "true",
        "STOCK_REPLENISH_INTERVAL_SECONDS": "0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",  # nothing listening
        "OTEL_TRACES_SAMPLER_ARG": "1",
        "BENCH_CATALOGUE_SIZE": str(SEEDED_PRODUCTS),
        "BENCH_REQUESTS": "64",
        "BENCH_CONCURRENCY": "8",
    }
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "asgi_driver.py")],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith(b"{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) == SEEDED_PRODUCTS + 64
    assert {line["status"] for line in requests} == {200}
    assert all(line.get("trace_id") for line in requests)  # traced: the telemetry really ran
