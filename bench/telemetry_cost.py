"""`make bench`: what telemetry costs, measured on the real API (real PostgreSQL and Redis).

Variants, started one at a time as `faultline serve` (uvicorn, 1 worker, uvloop + httptools):
  bare            no RED metrics, no /metrics, no tracing, no request logs, no loop-lag sampler
  bare-again      bare's settings, in a process of its own: the control (see below)
  full            everything at its defaults (one request in ten traced; a JSON log line per
                  request, sent over OTLP too when traced), exporting to an OTLP receiver (a
                  stand-in for the collector, in its own process: labkit/otlp_sink.py)
  collector-down  everything on, OTLP endpoint with nothing listening
  full-all-traced full, with every request traced (OTEL_TRACES_SAMPLER_ARG=1)
  metrics-only    Prometheus metrics on, tracing and OTLP logs off   (--variants, to split costs)
  tracing-only    tracing and OTLP logs on, Prometheus metrics off

Phase 1 (capacity): wrk, 2 threads, 64 connections, GET /api/v1/products/{random id}, each
variant in every round, order rotated between rounds. Phase 2 (fixed rate): each variant offered
half of bare's median capacity, as a Poisson stream (128 connections, each pausing an
exponentially distributed time before each request: bench/product-read.lua); p50/p99 compared.

The verdict is ratios within one run (full / bare), because machines are noisy; bare-again, bare's
settings in a process of its own, shows how far noise alone moves a ratio, and the goal lines say
when it moves as far as a goal allows (such a run cannot judge that goal). Every run is saved
(test-output/bench/) for bench/pool.py to judge the goals over many. Each run also reports the
API's CPU time per request (from /proc: steadier than req/s on a busy machine) and how many cache
reads failed over to PostgreSQL (which would otherwise be charged to telemetry).

The API has a core to itself: on a machine with two or more, it runs on the first CPU it may use,
and this script and what it starts (wrk, the OTLP receiver, local PostgreSQL and Redis) on the
others; `--no-pin` turns that off. Every variant starts from the same cache state: emptied, every
product read once, then a warm-up, all outside the measured window. Why each of these matters,
with the runs that showed it: docs/benchmarks.md.

Usage: python -m bench.telemetry_cost [--rounds 3] [--seconds 10] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis

from faultline.seed import DEFAULT_CATALOGUE_SIZE
from labkit.api import api_process, prepare_database
from labkit.net import free_port
from labkit.servers import Redis, servers

ROOT = Path(__file__).resolve().parents[1]

LUA = ROOT / "bench" / "product-read.lua"
CATALOGUE_SIZE = DEFAULT_CATALOGUE_SIZE  # products seeded; wrk reads ids 1..MAX_PRODUCT_ID
CONNECTIONS, THREADS = 64, 2
# wrk paces each connection (closed loop: a request's latency delays that connection's next one),
# so many connections, each with a long pause, keep the offered rate close to the target even
# when a variant is slower. The achieved req/s is printed next to the target.
PACED_CONNECTIONS = 128
CONTROL = "bare-again"  # bare's settings once more: what noise alone does to a ratio
# The goal: full telemetry at the API's defaults keeps at least this share of bare's capacity.
CAPACITY_GOAL = 0.70
# What each phase reports of full against bare: (phase, metric, what it says, goal: a ratio to
# bare, read by `meets`, or None). The p99 at half capacity is reported and not judged: its goal
# (at most 1.5x bare's) was withdrawn, since at that load queueing magnifies any CPU added per
# request, so it measured the machine as much as the code (docs/benchmarks.md).
MEASURES: tuple[tuple[str, str, str, float | None], ...] = (
    ("capacity", "rps", f"full >= {CAPACITY_GOAL:.2f} x bare throughput", CAPACITY_GOAL),
    ("fixed", "p99_ms", "full p99 at half capacity, x bare's", None),
)
GOALS = tuple((p, m, w, g) for p, m, w, g in MEASURES if g is not None)
# Every run's measurements, one JSON file per run, for bench/pool.py to judge the goals
# over many runs (one run cannot: see the module docstring).
SAVED_RUNS = ROOT / "test-output" / "bench"
# The saved runs docs/benchmarks.md's figures come from, copied here from SAVED_RUNS and
# committed, so that anyone can pool them again (`make bench-pool BENCH_POOL_ARGS=--recorded`).
RECORDED_RUNS = ROOT / "bench" / "runs"


@dataclass
class Run:
    variant: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float = 0.0  # the API process's CPU time per request (all threads)
    cache_errors: int = 0  # cache reads that failed and fell back to PostgreSQL
    round_no: int = 0

    @property
    def busy(self) -> float:
        """The share of one core the API used: CPU per request x requests per second."""
        return self.cpu_us * self.rps / 1e6


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    return sum(cpu_times(pid))


def split_cpus(available: set[int]) -> tuple[set[int], set[int]] | None:
    """The API's CPU and everyone else's, out of the CPUs this process may use (see the module
    docstring); None with fewer than two."""
    cpus = sorted(available)
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


def pin_process(pid: int, cpus: set[int]) -> None:
    """Every thread of a running process onto `cpus` (threads it starts later inherit it)."""
    for thread_id in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(thread_id), cpus)


def wrk(url: str, seconds: int, connections: int, delay_ms: float = 0) -> Run:
    env = {**os.environ, "WRK_DELAY_MS": f"{delay_ms:.3f}", "MAX_PRODUCT_ID": str(CATALOGUE_SIZE)}
    out = subprocess.run(
        [
            "wrk",
            f"-t{THREADS}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    return Run(
        "",
        result["requests"] / result["duration_s"],
        result["p50_ms"],
        result["p99_ms"],
        result["errors"] + result["non_2xx"],
    )


def variant_list(names: str) -> list[str]:
    """bare first (every ratio is to it), then the named variants."""
    return ["bare", *[v for v in names.split(",") if v and v != "bare"]]


@contextlib.contextmanager
def backends(database: str) -> Iterator[tuple[str, Redis, int]]:
    """What every variant runs against: real PostgreSQL (a fresh database with the catalogue),
    Redis, and an OTLP receiver (the collector's stand-in, labkit/otlp_sink.py) on the
    port yielded, parsing what it receives and keeping nothing (`--discard`; `Received.keep` in
    otlp_sink says why)."""
    with servers() as (postgres, redis_server):
        database_url = asyncio.run(postgres.create_database(database))
        prepare_database(database_url, catalogue_size=CATALOGUE_SIZE)
        sink_port = free_port()
        sink = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labkit.otlp_sink",
                "--port",
                str(sink_port),
                "--discard",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)  # listening by then
            yield database_url, redis_server, sink_port
        finally:
            sink.terminate()
            sink.wait()


def variant_env(variant: str, base: dict[str, str], sink_endpoint: str) -> dict[str, str]:
    """A variant's environment; `name+KEY=VALUE+...` adds settings (e.g. full+LOG_LEVEL=warning)."""
    name, *overrides = variant.split("+")
    env = dict(base)
    if name in ("bare", CONTROL):
        # No telemetry at all: not even the per-request log line.
        env.update(
            METRICS_ENABLED="false",
            OTEL_SDK_DISABLED="true",
            EVENT_LOOP_LAG_INTERVAL_SECONDS="0",
            LOG_LEVEL="warning",
        )
    elif name == "full":
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=sink_endpoint)
    elif name == "full-all-traced":
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=sink_endpoint, OTEL_TRACES_SAMPLER_ARG="1")
    elif name == "collector-down":
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    elif name == "metrics-only":
        env.update(OTEL_SDK_DISABLED="true")
    elif name == "tracing-only":
        env.update(
            METRICS_ENABLED="false",
            EVENT_LOOP_LAG_INTERVAL_SECONDS="0",
            OTEL_EXPORTER_OTLP_ENDPOINT=sink_endpoint,
        )
    else:
        raise SystemExit(f"unknown variant {name}")
    for override in overrides:
        key, _, value = override.partition("=")
        env[key] = value
    return env


def measure(
    name: str,
    env: dict[str, str],
    logdir: Path,
    seconds: int,
    delay_ms: float,
    api_cpus: set[int] | None,
) -> Run:
    """One variant, one run: wrk's figures, plus the API's CPU per request (steadier than
    req/s on a noisy machine) and its cache errors (logged at warning, so counted in every
    variant, bare included). The API runs on `api_cpus` when given."""
    log_path = logdir / (name.replace("/", "_") + ".log")
    with api_process(env, log_path) as (url, process):
        if api_cpus:
            pin_process(process.pid, api_cpus)
        fill_cache(url, env["REDIS_URL"])
        wrk(url, 3, CONNECTIONS)  # warm-up: the pool, the interpreter's caches
        connections = PACED_CONNECTIONS if delay_ms else CONNECTIONS
        log_offset = log_path.stat().st_size
        cpu_before = cpu_seconds(process.pid)
        run = wrk(url, seconds, connections, delay_ms)
        run.cpu_us = (cpu_seconds(process.pid) - cpu_before) / max(1, run.rps * seconds) * 1e6
    with log_path.open("rb") as log:
        log.seek(log_offset)
        run.cache_errors = log.read().count(b'"cache.error"')
    run.variant = name
    return run


def run_rounds(
    phase: str,
    rounds: int,
    variants: list[str],
    env_of: Callable[[str], dict[str, str]],
    logdir: Path,
    seconds: int,
    delay_ms: float,
    api_cpus: set[int] | None,
) -> list[Run]:
    """Every variant once per round, the order rotated between rounds."""
    runs: list[Run] = []
    for round_no in range(rounds):
        order = variants[round_no % len(variants) :] + variants[: round_no % len(variants)]
        for name in order:
            run = measure(name, env_of(name), logdir, seconds, delay_ms, api_cpus)
            run.round_no = round_no
            runs.append(run)
            detail = (
                ""
                if delay_ms
                else f"  CPU {run.cpu_us:5.0f} us/req  cache errors {run.cache_errors}"
            )
            print(
                f"  {phase:<9} round {round_no + 1} {name:<16} {run.rps:7.0f} req/s  "
                f"p99 {run.p99_ms:6.1f} ms{detail}",
                flush=True,
            )
    return runs


def fill_cache(url: str, redis_url: str) -> None:
    """Empty the cache, then read every product once through the API, so each variant is measured
    on the same, fully warm cache (the entries outlive a variant's run)."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    with httpx.Client(base_url=url, timeout=10) as client:
        for product_id in range(1, CATALOGUE_SIZE + 1):
            client.get(f"/api/v1/products/{product_id}").raise_for_status()


def summarise(runs: list[Run], variants: list[str]) -> dict[str, dict[str, float]]:
    """Medians per variant. The ratios to bare are medians of each round's own ratio (bare and
    the variant ran within a minute of each other), which holds up better than a ratio of
    medians when the machine's speed drifts over a run."""
    bare = {r.round_no: r for r in runs if r.variant == "bare"}
    table = {}
    for name in variants:
        mine = [r for r in runs if r.variant == name]
        table[name] = {
            "rps": statistics.median(r.rps for r in mine),
            "p50": statistics.median(r.p50_ms for r in mine),
            "p99": statistics.median(r.p99_ms for r in mine),
            "errors": sum(r.errors for r in mine),
            "cpu_us": statistics.median(r.cpu_us for r in mine),
            "cache_errors": sum(r.cache_errors for r in mine),
            "rps_ratio": statistics.median(round_ratios(runs, name, "rps")),
            "p99_ratio": statistics.median(round_ratios(runs, name, "p99_ms")),
            "cpu_ratio": statistics.median(bare[r.round_no].cpu_us / r.cpu_us for r in mine),
        }
    return table


def round_ratios(runs: list[Run], name: str, metric: str) -> list[float]:
    """A variant's ratio to bare in each round, in round order (metric: "rps" or "p99_ms")."""
    bare = {r.round_no: r for r in runs if r.variant == "bare"}
    return [
        getattr(r, metric) / getattr(bare[r.round_no], metric)
        for r in sorted(runs, key=lambda r: r.round_no)
        if r.variant == name
    ]


def goal_line(what: str, ratios: list[float], control: list[float], goal: float | None) -> str:
    """One measure's line: full's median ratio, its rounds, and the control's beside it. For a
    goal, when the control's own median is as far from 1 as the goal allows (either way), noise
    alone could make or break the goal in this run, and the line says so instead of letting the
    figure pass for a verdict."""
    label = "Goal" if goal is not None else "Reported"
    line = f"{label}: {what} -> {statistics.median(ratios):.2f} (rounds {_listed(ratios)})"
    if not control:
        return line
    noise = statistics.median(control)
    line += f"; {CONTROL}, bare's settings again: {noise:.2f} (rounds {_listed(control)})"
    if goal is not None and max(noise, 1 / noise) >= max(goal, 1 / goal):
        line += f"\n  -> the control alone is {noise:.2f}x: this run cannot judge this goal"
    return line


def _listed(ratios: list[float]) -> str:
    return ", ".join(f"{r:.2f}" for r in ratios)


def goal_lines(capacity: list[Run], paced: list[Run]) -> list[str]:
    """The capacity goal's verdict and the p99 report, for the phases that ran (full's, against
    bare)."""
    phases = {"capacity": capacity, "fixed": paced}
    lines = []
    for phase, metric, what, goal in MEASURES:
        runs = phases[phase]
        if any(r.variant == "full" for r in runs):
            full, control = round_ratios(runs, "full", metric), round_ratios(runs, CONTROL, metric)
            lines.append(goal_line(what, full, control, goal))
    return lines


def meets(ratio: float, goal: float) -> bool:
    """Whether a ratio to bare meets a goal: at least a goal below 1, at most a goal above it."""
    return ratio >= goal if goal < 1 else ratio <= goal


def save_runs(path: Path, capacity: list[Run], paced: list[Run], **about: object) -> None:
    """One run's every measurement (both phases, every round) and what it ran on, as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **about,
        "capacity": [asdict(r) for r in capacity],
        "fixed": [asdict(r) for r in paced],
    }
    path.write_text(json.dumps(record, indent=1) + "\n")


def load_runs(path: Path) -> tuple[dict[str, object], list[Run], list[Run]]:
    """What `save_runs` wrote: (what it ran on, capacity runs, fixed-rate runs)."""
    record = json.loads(path.read_text())
    capacity = [Run(**r) for r in record.pop("capacity")]
    paced = [Run(**r) for r in record.pop("fixed")]
    return record, capacity, paced


def machine_boot() -> str:
    """The kernel's boot id, shortened: runs with the same one ran on the same machine, booted
    once (two machines of one kind are otherwise indistinguishable from inside)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "unknown"


def git_commit() -> str:
    """The commit measured, with "+changes" when the working tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def print_table(title: str, table: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    header = (
        "variant",
        "req/s",
        "vs bare",
        "p50 ms",
        "p99 ms",
        "p99 vs bare",
        "CPU us/req",
        "bare/CPU",
        "errors",
        "cache errs",
    )
    widths = (9, 9, 9, 9, 13, 12, 10, 8, 12)
    width = max(16, *(len(name) + 1 for name in table))
    print(
        f"  {header[0]:<{width}}"
        + "".join(f"{h:>{w}}" for h, w in zip(header[1:], widths, strict=True))
    )
    for name, row in table.items():
        print(
            f"  {name:<{width}}{row['rps']:>9.0f}{row['rps_ratio']:>9.2f}{row['p50']:>9.1f}"
            f"{row['p99']:>9.1f}{row['p99_ratio']:>13.2f}{row['cpu_us']:>12.0f}"
            f"{row['cpu_ratio']:>10.2f}{row['errors']:>8.0f}"
            f"{row['cache_errors']:>12.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--variants",
        default=f"{CONTROL},full,collector-down,full-all-traced",
        help="compared with bare, comma-separated (also: metrics-only, tracing-only; any of them "
        "with +SETTING=value, e.g. full+OTEL_TRACES_SAMPLER_ARG=0); keep bare-again, the control, "
        "to see what noise alone does to a ratio",
    )
    parser.add_argument("--no-fixed-rate", action="store_true", help="capacity phase only")
    parser.add_argument(
        "--no-pin", action="store_true", help="let the API share every CPU with wrk and the rest"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk (make bench installs it)")
    variants = variant_list(args.variants)
    cpus = None if args.no_pin else split_cpus(os.sched_getaffinity(0))
    api_cpus = cpus[0] if cpus else None
    if cpus:
        # Before anything starts: PostgreSQL, Redis, the receiver and wrk inherit it.
        os.sched_setaffinity(0, cpus[1])
    placement = (
        f"API on CPU {sorted(cpus[0])}, the rest on {sorted(cpus[1])}" if cpus else "API unpinned"
    )
    logdir = Path(tempfile.mkdtemp(prefix="faultline-bench-"))
    with backends("faultline_bench") as (database_url, redis_server, sink_port):
        base = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_server.url,
            "STOCK_REPLENISH_INTERVAL_SECONDS": "0",
            "LOG_JSON": "true",
        }
        print(
            f"bench: {args.rounds} rounds x {len(variants)} variants, {args.seconds}s each, "
            f"wrk -t{THREADS} -c{CONNECTIONS}; {placement}; logs in {logdir}",
            flush=True,
        )

        def env_of(name: str) -> dict[str, str]:
            # Built per run: collector-down picks a port that is free at that moment.
            return variant_env(name, base, f"http://127.0.0.1:{sink_port}")

        capacity = run_rounds(
            "capacity", args.rounds, variants, env_of, logdir, args.seconds, 0, api_cpus
        )
        cap_table = summarise(capacity, variants)
        target_rps = cap_table["bare"]["rps"] / 2
        delay_ms = PACED_CONNECTIONS / target_rps * 1000
        rounds = 0 if args.no_fixed_rate else args.rounds
        paced = run_rounds(
            "fixed", rounds, variants, env_of, logdir, args.seconds, delay_ms, api_cpus
        )
    print_table(
        "Capacity (closed loop, wrk -t2 -c64), medians; ratios: median of rounds:", cap_table
    )
    paced_table = summarise(paced, variants) if paced else {}
    if paced_table:
        print_table(
            f"Fixed rate (~{target_rps:.0f} req/s = half of bare's capacity), medians:", paced_table
        )
    print()
    for line in goal_lines(capacity, paced):
        print(line)
    finished = datetime.now(UTC)
    saved = SAVED_RUNS / f"{finished:%Y%m%dT%H%M%SZ}.json"
    save_runs(
        saved,
        capacity,
        paced,
        commit=git_commit(),
        machine_boot=machine_boot(),
        finished=finished.isoformat(timespec="seconds"),
        placement=placement,
        target_rps=round(target_rps, 1),
    )
    print(f"\nSaved to {saved.relative_to(ROOT)}; pool it with earlier runs: make bench-pool")


if __name__ == "__main__":
    main()
