"""`make bench-pool`: the goals judged over many `make bench` runs, not one.

One run cannot judge the p99 goal on a noisy machine: the control (bare-again, bare's settings in a
process of its own) has come out anywhere from 0.62x to 2.23x bare's p99 in single rounds, and at
1.52x as the median of one whole run (docs/benchmarks.md). Every `make bench` saves its rounds
(test-output/bench/, one JSON file per run); this pools the rounds of the runs given (by default
those of the commit checked out: see below) and prints, for each variant, the median of all its
rounds' ratios to bare (each round's ratio to bare of the same round, as `make bench` computes them)
and a 95% interval for that median. The interval comes from resampling in two stages, as the runs
were made: runs drawn with replacement, then rounds drawn with replacement within each run drawn
(rounds of one run share that run's machine state, so they are not independent of each other). For
full it then says whether each goal is met, missed, or cannot be told apart from it: met or missed
only when the whole interval is on one side of the goal. The control's interval should take in 1;
when it does not, the machine moved the runs more than the pooling allows for.

By default it pools the saved runs of the commit checked out now (the files say which commit
they measured, "+changes" when the working tree differed from it): runs of other code measure
other code. `--all` pools every saved run, or name the files; the commits pooled are listed.
`--recorded` pools the runs committed in bench/runs/, which docs/benchmarks.md's figures
come from (dev/render_docs.py renders them from those files, with `pool` below).

Usage: python -m bench.pool [saved-run.json ...] [--all | --recorded] [--draws 20000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.telemetry_cost import (
    CONTROL,
    MEASURES,
    RECORDED_RUNS,
    SAVED_RUNS,
    Run,
    git_commit,
    load_runs,
    meets,
    round_ratios,
)

# One saved run as bench.load_runs reads it: (what it ran on, capacity runs, fixed-rate runs).
SavedRun = tuple[dict[str, object], list[Run], list[Run]]
DRAWS = 20_000  # resamples for each interval; seeded, so the same runs print the same figures
PHASE_TITLES = {
    "capacity": "Capacity (closed loop), req/s vs bare",
    "fixed": "Fixed rate (half of bare's capacity), p99 vs bare",
}


def ratios_by_run(runs: list[list[Run]], variant: str, metric: str) -> list[list[float]]:
    """The variant's ratio to bare in each round, run by run (runs without the variant left out)."""
    return [ratios for one in runs if (ratios := round_ratios(one, variant, metric))]


def median_of_sorted(values: list[float]) -> float:
    """statistics.median of values already sorted (the bootstrap's inner loop: ~20,000 calls)."""
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def pooled_median(
    by_run: list[list[float]], draws: int, seed: int = 1
) -> tuple[float, float, float]:
    """The median of every round's ratio, and a 95% interval for it (runs resampled, then rounds
    within each run drawn; see the module docstring). Seeded, so a rerun prints the same."""
    choice = random.Random(seed).choice
    medians = []
    for _ in range(draws):
        drawn = [choice(by_run) for _ in by_run]
        medians.append(median_of_sorted(sorted([choice(run) for run in drawn for _ in run])))
    medians.sort()
    low, high = medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]
    return statistics.median(r for run in by_run for r in run), low, high


def verdict(low: float, high: float, goal: float) -> str:
    """Met or missed only when the whole interval is on one side of the goal."""
    if meets(low, goal) and meets(high, goal):
        return "met"
    if not meets(low, goal) and not meets(high, goal):
        return "missed"
    return "cannot tell"


@dataclass(frozen=True)
class Pooled:
    """One variant's ratios to bare in one phase, pooled over runs."""

    runs: int
    rounds: int
    median: float
    low: float  # the 95% interval for the median
    high: float


def phase_runs(saved: list[SavedRun], phase: str) -> list[list[Run]]:
    """Each saved run's rounds of one phase ("capacity" or "fixed")."""
    return [capacity if phase == "capacity" else paced for _, capacity, paced in saved]


def by_machine(saved: list[SavedRun]) -> dict[str, list[SavedRun]]:
    """The runs grouped by the machine they ran on, told apart by boot id ("unrecorded" for runs
    saved before bench.py recorded it), in the order the runs were made."""
    groups: dict[str, list[SavedRun]] = {}
    for run in saved:
        groups.setdefault(str(run[0].get("machine_boot", "unrecorded")), []).append(run)
    return groups


def pool(saved: list[SavedRun], draws: int) -> dict[str, dict[str, Pooled]]:
    """Each phase's variants (bare left out: it is what the ratios are to), pooled, in the order
    the runs name them."""
    pooled: dict[str, dict[str, Pooled]] = {}
    for phase, metric, _, _ in MEASURES:
        runs = [one for one in phase_runs(saved, phase) if one]
        variants = dict.fromkeys(r.variant for one in runs for r in one if r.variant != "bare")
        pooled[phase] = {}
        for variant in variants:
            by_run = ratios_by_run(runs, variant, metric)
            median, low, high = pooled_median(by_run, draws)
            rounds = sum(len(run) for run in by_run)
            pooled[phase][variant] = Pooled(len(by_run), rounds, median, low, high)
    return pooled


def commits_pooled(saved: list[SavedRun]) -> str:
    """The commits measured, most runs first: "abc1234 x3, def5678 x1"."""
    commits = Counter(str(about.get("commit", "unknown")) for about, _, _ in saved)
    return ", ".join(f"{commit} x{n}" for commit, n in commits.most_common())


def machines_pooled(saved: list[SavedRun]) -> str:
    """The machines the runs ran on (`by_machine`), most runs first: "4665fe72 x3, ..."."""
    machines = sorted(by_machine(saved).items(), key=lambda item: len(item[1]), reverse=True)
    return ", ".join(f"{boot} x{len(runs)}" for boot, runs in machines)


def report(
    saved: list[SavedRun], draws: int, pooled: dict[str, dict[str, Pooled]] | None = None
) -> list[str]:
    """The lines `make bench-pool` prints for these saved runs (`pooled`: their pool, when the
    caller has it already)."""
    lines = [
        f"Pooled: {len(saved)} runs of `make bench` (commits: {commits_pooled(saved)}; "
        f"machines by boot id: {machines_pooled(saved)})"
    ]
    pooled = pooled or pool(saved, draws)
    for phase, _, what, goal in MEASURES:
        if not pooled[phase]:
            continue
        lines += [
            "",
            f"{PHASE_TITLES[phase]}; median of all rounds, 95% interval:",
            f"  {'variant':<34}{'runs':>5}{'rounds':>7}{'median':>8}   interval",
        ]
        for variant, p in pooled[phase].items():
            row = (
                f"  {variant:<34}{p.runs:>5}{p.rounds:>7}{p.median:>8.2f}"
                f"   {p.low:.2f}-{p.high:.2f}"
            )
            if variant == CONTROL:
                row += "   (bare's settings: noise alone)"
            lines.append(row)
        if (full := pooled[phase].get("full")) and goal is not None:
            lines.append(
                f"Goal: {what} -> {verdict(full.low, full.high, goal)} "
                f"({full.low:.2f}-{full.high:.2f})"
            )
        elif full:
            lines.append(f"Reported (no goal): {what} -> {full.median:.2f}")
    return lines


def recorded_runs() -> list[Path]:
    """The committed runs docs/benchmarks.md's pooled figures come from."""
    return sorted(RECORDED_RUNS.glob("*.json"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "files", nargs="*", type=Path, help="saved runs (default: those of the current commit)"
    )
    runs = parser.add_mutually_exclusive_group()
    runs.add_argument("--all", action="store_true", help="every saved run, of any commit")
    runs.add_argument(
        "--recorded",
        action="store_true",
        help="the runs docs/benchmarks.md quotes, committed in bench/runs/",
    )
    parser.add_argument("--draws", type=int, default=DRAWS, help="resamples for the interval")
    args = parser.parse_args()
    if args.recorded:
        args.files = recorded_runs()
        if not args.files:
            sys.exit(f"no recorded runs in {RECORDED_RUNS}")
    saved = [load_runs(path) for path in args.files or sorted(SAVED_RUNS.glob("*.json"))]
    if not (args.files or args.all):
        commit = git_commit()
        others = len(saved)
        saved = [run for run in saved if run[0].get("commit") == commit]
        if not saved:
            sys.exit(
                f"no saved run of {commit} in {SAVED_RUNS} ({others} of other commits; --all "
                "pools them): run `make bench` first"
            )
    if not saved:
        sys.exit(f"no saved runs in {SAVED_RUNS}: run `make bench` first")
    for line in report(saved, args.draws):
        print(line)


if __name__ == "__main__":
    main()
