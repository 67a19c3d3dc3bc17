"""A benchmark probe, not part of `make bench`: why a request costs the API more CPU at half of
its capacity than at capacity.

`make bench` finds bare spending a fifth to over a third more CPU per request at its fixed rate
(half of bare's capacity) than at capacity, on every machine (docs/benchmarks.md). That is
why "half of capacity" keeps bare's core ~65% busy rather than 50%, and with it how far queueing
magnifies whatever telemetry adds. This probe splits that CPU per request into user and system
time, counts the times the API's threads went to sleep (voluntary context switches) per
request, and varies what could explain it, one thing at a time:
  - the connection count (make bench's capacity phase uses 64, its fixed rate 128);
  - the core idling between requests: with --spin, a spinner of the lowest priority (SCHED_IDLE)
    runs on the API's core during the fixed-rate phase, so the core never idles (and the VM's
    CPU never halts) yet the API gets the core whenever it wants it.
It uses make bench's pieces (bench/telemetry_cost.py): the same API start-up, placement (the API
on a core of its own), cache fill, warm-up and wrk script.

Usage (from the repository's root):
  .venv/bin/python -m bench.probes.fixed_rate_cpu [--variants bare,full] [--rounds 2] [--spin]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import telemetry_cost as bench
from labkit.api import api_process

ROOT = Path(__file__).resolve().parents[2]

SECONDS = 10
# (phase, connections): make bench's two phases, and the fixed rate at other connection counts.
PHASES = (("capacity", 64), ("capacity", 128), ("fixed", 128), ("fixed", 64), ("fixed", 32))


def process_times(pid: int) -> tuple[float, float, int]:
    """User seconds, system seconds (bench.cpu_times), and voluntary context switches summed
    over its threads."""
    sleeps = 0
    for thread in os.listdir(f"/proc/{pid}/task"):
        for line in Path(f"/proc/{pid}/task/{thread}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                sleeps += int(line.split()[1])
    return (*bench.cpu_times(pid), sleeps)


@contextmanager
def idle_spinner(cpu: int | None) -> Iterator[None]:
    """A busy loop at SCHED_IDLE priority on `cpu` (nothing when None)."""
    if cpu is None:
        yield
        return
    spin = ["chrt", "--idle", "0", "taskset", "-c", str(cpu), sys.executable, "-c", "while 1: 0"]
    spinner = subprocess.Popen(spin)
    time.sleep(0.5)
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", default="bare")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--spin", action="store_true", help="keep the API's core from idling")
    args = parser.parse_args()
    cpus = bench.split_cpus(os.sched_getaffinity(0))
    if cpus is None:
        sys.exit("needs two CPUs: the API on one, everything else on the others")
    api_cpus, rest = cpus
    os.sched_setaffinity(0, rest)
    logdir = Path(tempfile.mkdtemp(prefix="faultline-probe-"))
    with bench.backends("faultline_probe") as (database_url, redis_server, sink_port):
        base = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_server.url,
            "STOCK_REPLENISH_INTERVAL_SECONDS": "0",
            "LOG_JSON": "true",
        }
        for round_no in range(args.rounds):
            for variant in args.variants.split(","):
                env = bench.variant_env(variant, base, f"http://127.0.0.1:{sink_port}")
                with api_process(env, logdir / f"{variant}.log") as (url, process):
                    bench.pin_process(process.pid, api_cpus)
                    bench.fill_cache(url, env["REDIS_URL"])
                    bench.wrk(url, 3, bench.CONNECTIONS)  # warm-up, as make bench does
                    target_rps = 0.0
                    for phase, connections in PHASES:
                        fixed = phase == "fixed"
                        delay_ms = connections / target_rps * 1000 if fixed else 0
                        spin_on = min(api_cpus) if fixed and args.spin else None
                        with idle_spinner(spin_on):
                            before = process_times(process.pid)
                            run = bench.wrk(url, SECONDS, connections, delay_ms)
                            after = process_times(process.pid)
                        if not target_rps:  # the first capacity phase sets the fixed rate
                            target_rps = run.rps / 2
                        requests = run.rps * SECONDS
                        user, system, sleeps = (a - b for a, b in zip(after, before, strict=True))
                        print(
                            f"round {round_no + 1} {variant:<8} {phase:<8} c{connections:<4}"
                            f"{run.rps:6.0f} req/s  p99 {run.p99_ms:6.1f} ms  "
                            f"user {user / requests * 1e6:4.0f} us/req  "
                            f"system {system / requests * 1e6:3.0f} us/req  "
                            f"sleeps {sleeps / requests:4.2f}/req  "
                            f"busy {(user + system) / SECONDS:4.0%}",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
