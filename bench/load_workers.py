"""`make bench-load`: what one Locust process and two (Locust's own `--processes 2`: a master and
two workers) push through the API with three replicas behind nginx, on this machine.

The lab's layout with real processes: PostgreSQL and Redis (labkit), three `faultline serve`
replicas with the lab's telemetry (the OTLP stand-in receiving), Debian's nginx running the stack's
proxy/nginx.conf (labkit.proxy). Locust runs the project's locustfile, headless, closed loop (no
think time: each shopper sends its next request when the last one answers), the same users and
seconds for both. Each round runs both, order alternating between rounds; the verdict is the
ratio two/one within each round (machines are noisy; see docs/benchmarks.md).

Reported per run: Locust's requests per second, failures, p50 and p99 (its own summary), and the
CPU seconds Locust (all its processes) and the API replicas used per second of run: when one
Locust process is near a whole core, Locust is the limit; when the replicas take the machine,
the API is, and a second worker cannot help.

Each run is saved in test-output/bench/load-workers/; the one docs/benchmarks.md quotes is in
bench/runs/load-workers/.

Usage: python -m bench.load_workers [--rounds 3] [--seconds 20] [--users 60]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench.telemetry_cost import CATALOGUE_SIZE, SAVED_RUNS, backends, cpu_seconds, git_commit
from labkit.api import api_process, process_env
from labkit.net import free_port, http_ok
from labkit.processes import wait_ready
from labkit.proxy import nginx_command, project_config

ROOT = Path(__file__).resolve().parents[1]
REPLICAS = 3


def locust_run(host: str, processes: int, users: int, seconds: int, out: Path) -> dict[str, float]:
    """One headless Locust run; its aggregated figures and its CPU (every process it forked)."""
    prefix = out / f"locust-{processes}-{time.monotonic_ns()}"
    env = {
        **os.environ,
        "CATALOGUE_SIZE": str(CATALOGUE_SIZE),
        "LOAD_PROFILE": "steady",
        "LOAD_USERS": str(users),
        "LOAD_SPAWN_RATE": str(users),
        "LOAD_DURATION": f"{seconds}s",
        "LOAD_WAIT_MIN": "0",
        "LOAD_WAIT_MAX": "0",
        "LOADGEN_METRICS_PORT": "0",
    }
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py")]
    command += ["--headless", "--only-summary", "--host", host, "--csv", str(prefix)]
    if processes > 1:
        command += ["--processes", str(processes)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(
        command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(f"{prefix}_stats.csv") as stats:
        (total,) = [row for row in csv.DictReader(stats) if row["Name"] == "Aggregated"]
    return {
        "rps": float(total["Requests/s"]),
        "requests": float(total["Request Count"]),
        "failures": float(total["Failure Count"]),
        "p50_ms": float(total["50%"]),
        "p99_ms": float(total["99%"]),
        # Locust's CPU per second of its run (1.0 = one core, all of it).
        "locust_cores": (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        / wall,
    }


@contextlib.contextmanager
def lab(workdir: Path) -> Iterator[tuple[str, list[int]]]:
    """The API's URL through the proxy, and the replicas' pids."""
    with backends("bench_load") as (database_url, redis_server, sink_port):
        env = process_env(
            database_url,
            redis_server.url,
            "bench-token",
            OTEL_SDK_DISABLED="false",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}",
            LOG_LEVEL="warning",
        )
        with contextlib.ExitStack() as stack:
            replicas = [
                stack.enter_context(
                    api_process({**env, "REPLICA_NAME": f"api-{n}"}, workdir / f"api-{n}.log")
                )
                for n in range(1, REPLICAS + 1)
            ]
            port = free_port()
            (workdir / "temp").mkdir()
            config = workdir / "nginx.conf"
            addresses = [url.removeprefix("http://") for url, _ in replicas]
            config.write_text(project_config(port, addresses, workdir / "temp"))
            proxy = subprocess.Popen(
                nginx_command(config, workdir / "nginx.pid"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                wait_ready(
                    "nginx",
                    lambda: http_ok(f"{url}/proxy/health"),
                    lambda: proxy.poll() is None,
                    workdir / "nginx.conf",
                    timeout=15,
                )
                yield url, [process.pid for _, process in replicas]
            finally:
                proxy.terminate()
                proxy.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--users", type=int, default=60)
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, lab(Path(tmp)) as (url, pids):
        locust_run(url, 1, args.users, 5, Path(tmp))  # warm-up: pools, caches, the interpreter
        for round_number in range(args.rounds):
            order = (1, 2) if round_number % 2 == 0 else (2, 1)
            for processes in order:
                api_before = sum(cpu_seconds(pid) for pid in pids)
                run = locust_run(url, processes, args.users, args.seconds, Path(tmp))
                api_cores = (sum(cpu_seconds(pid) for pid in pids) - api_before) / args.seconds
                run.update(round=round_number, processes=processes, api_cores=api_cores)
                # Locust's own CPU per request: how far one process could go before it is the
                # limit (one core / this), whatever the API reached.
                run["locust_us_per_request"] = run["locust_cores"] / run["rps"] * 1e6
                runs.append(run)
                print(
                    f"round {round_number + 1}  {processes} process(es)  {run['rps']:7.0f} req/s"
                    f"  p50 {run['p50_ms']:5.0f} ms  p99 {run['p99_ms']:5.0f} ms"
                    f"  failures {run['failures']:.0f}  Locust {run['locust_cores']:.2f} cores"
                    f" ({run['locust_us_per_request']:.0f} us/request)"
                    f"  API {run['api_cores']:.2f} cores",
                    flush=True,
                )
    ratios = []
    for round_number in range(args.rounds):
        one, two = (
            next(r for r in runs if r["round"] == round_number and r["processes"] == n)
            for n in (1, 2)
        )
        ratios.append(two["rps"] / one["rps"])
    print(
        f"\nTwo Locust processes / one, req/s, per round: {', '.join(f'{r:.2f}' for r in ratios)}"
        f"; median {statistics.median(ratios):.2f} ({REPLICAS} API replicas behind nginx, "
        f"{os.cpu_count()} CPUs, {args.users} users, closed loop)"
    )
    one_process = [r["locust_us_per_request"] for r in runs if r["processes"] == 1]
    print(
        f"One Locust process spends {statistics.median(one_process):.0f} us of CPU per request: "
        f"about {1e6 / statistics.median(one_process):.0f} req/s on a core of its own, "
        "before it would be the limit."
    )
    # Beside make bench's runs, not among them (bench/pool.py reads those).
    saved = SAVED_RUNS / "load-workers"
    saved.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (saved / f"{stamp}.json").write_text(
        json.dumps(
            {"commit": git_commit(), "cpus": os.cpu_count(), "args": vars(args), "runs": runs},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
