"""`make bench-instructions`: what telemetry costs, in instructions executed per request, a count
the machine's noise does not move (under wrk, the same variant's CPU per request moves by 20-30%
between runs here, and with it `make bench`'s ratios).

Each variant (the same ones as `make bench`, same settings) runs bench/asgi_driver.py under
valgrind's cachegrind, which counts every instruction of every thread of the process (the export
threads included): once with BENCH_SMALL requests and once with BENCH_LARGE. The difference
divided by the difference in requests is the instructions per request: start-up, imports and the
cache fill cancel out. The requests are GET /api/v1/products/{random id}, 16 at a time, all cache
hits, through the ASGI app directly; real PostgreSQL, Redis and OTLP receiver (the stand-in for
the collector, labkit/otlp_sink.py).

What it leaves out, and why the ratio reads lower than under wrk: the HTTP server's own work
(uvicorn's parsing and writing, the same for every variant) is not in the count, so bare's count
is smaller than a real request's and the ratio to it is stricter. Work driven by the clock is set
aside: valgrind runs the program ~50x slower, so a timer would fire ~50x more often per request.
The loop-lag sampler is off in every variant and spans and log records are exported when a batch
fills (512) rather than each second; both are small under load. Instructions are not time: cache
misses, system calls and waiting for the GIL are not in them; `make bench` measures those.

Usage: python -m bench.instructions [--variants full,full-all-traced] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from bench.telemetry_cost import backends, variant_env, variant_list

ROOT = Path(__file__).resolve().parents[1]

DRIVER = ROOT / "bench" / "asgi_driver.py"
CATALOGUE_SIZE = 1200
BENCH_SMALL, BENCH_LARGE = 400, 2400
# Clock-driven work set aside (see the module docstring).
UNDER_VALGRIND = {
    "EVENT_LOOP_LAG_INTERVAL_SECONDS": "0",
    "FAULT_SYNC_INTERVAL_SECONDS": "10",
    "OTEL_BSP_SCHEDULE_DELAY": "600000",
    "OTEL_BLRP_SCHEDULE_DELAY": "600000",
    "CACHE_TTL_SECONDS": "3600",  # a slow run must not see entries expire
}


def instructions(env: dict[str, str], requests: int, workdir: Path, label: str) -> int:
    """All instructions of one driver run (cachegrind's I refs)."""
    log = workdir / f"{label}-{requests}.log"
    with log.open("wb") as stdout:
        run = subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={workdir / f'{label}-{requests}.cg'}",
                sys.executable,
                str(DRIVER),
            ],
            env={**os.environ, **env, "BENCH_REQUESTS": str(requests), "PYTHONHASHSEED": "0"},
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=1800,
        )
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode != 0 or not found:
        raise SystemExit(f"{label}: the driver failed:\n{run.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", default="metrics-only,full,full-all-traced")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at a time")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind not found: apt-get install valgrind (make bench-instructions does)")
    variants = variant_list(args.variants)
    workdir = Path(tempfile.mkdtemp(prefix="faultline-instructions-"))
    with backends("faultline_instructions") as (database_url, redis_server, sink_port):
        runs = [(variant, n) for variant in variants for n in (BENCH_SMALL, BENCH_LARGE)]
        # Every run its own Redis database, emptied first: the same cache fill for all of them.
        databases = {run: index % 16 for index, run in enumerate(runs)}

        def measure(run: tuple[str, int]) -> int:
            variant, requests = run
            redis_url = f"{redis_server.url.rstrip('/')}/{databases[run]}"
            redis.Redis.from_url(redis_url).flushdb()
            base = {
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "STOCK_REPLENISH_INTERVAL_SECONDS": "0",
                "LOG_JSON": "true",
                "ENVIRONMENT": "test",
                "BENCH_CATALOGUE_SIZE": str(CATALOGUE_SIZE),
            }
            env = variant_env(variant, base, f"http://127.0.0.1:{sink_port}")
            label = re.sub(r"[^\w.=+-]", "_", variant)
            return instructions({**env, **UNDER_VALGRIND}, requests, workdir, label)

        print(f"bench-instructions: {len(variants)} variants under valgrind; files in {workdir}")
        started = time.monotonic()
        with ThreadPoolExecutor(max(1, min(args.jobs, 16))) as pool:
            counts = dict(zip(runs, pool.map(measure, runs), strict=True))
    per_request = {
        v: (counts[(v, BENCH_LARGE)] - counts[(v, BENCH_SMALL)]) / (BENCH_LARGE - BENCH_SMALL)
        for v in variants
    }
    print(f"\nInstructions per request (in-process, {time.monotonic() - started:.0f} s):")
    print(f"  {'variant':34} {'instructions':>12}  {'bare / this':>11}")
    for variant in variants:
        ratio = per_request["bare"] / per_request[variant]
        print(f"  {variant:34} {per_request[variant] / 1000:>10,.0f}k  {ratio:>11.2f}")


if __name__ == "__main__":
    main()
