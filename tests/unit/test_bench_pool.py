"""How `make bench-pool` judges the goals over many saved `make bench` runs: the rounds of every
run pooled, a 95% interval for their median from two-stage resampling (runs, then rounds), and a
verdict only when the whole interval is on one side of a goal. Built from runs as
bench/telemetry_cost.py records and saves them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.pool import Pooled, pool, pooled_median, recorded_runs, report, verdict
from bench.telemetry_cost import CONTROL, Run, load_runs, machine_boot, save_runs
from dev.render_docs import queueing_figures

ROOT = Path(__file__).resolve().parents[2]


def phase(values: dict[str, list[float]], metric: str) -> list[Run]:
    """Runs of one phase: each variant's rps or p99 per round."""
    runs = []
    for name, per_round in values.items():
        for round_no, value in enumerate(per_round):
            rps, p99 = (value, 20.0) if metric == "rps" else (1000.0, value)
            runs.append(Run(name, rps, 1.0, p99, 0, cpu_us=400.0, round_no=round_no))
    return runs


def test_a_saved_run_loads_as_it_was_measured(tmp_path: Path) -> None:
    capacity = phase({"bare": [3000, 3100], "full": [2200, 2300]}, "rps")
    paced = phase({"bare": [5.0, 6.0], "full": [9.0, 12.0]}, "p99_ms")
    path = tmp_path / "run.json"
    save_runs(path, capacity, paced, commit="abc1234", target_rps=1525.0)
    about, loaded_capacity, loaded_paced = load_runs(path)
    assert about == {"commit": "abc1234", "target_rps": 1525.0}
    assert (loaded_capacity, loaded_paced) == (capacity, paced)


def test_the_interval_of_identical_rounds_is_that_value() -> None:
    assert pooled_median([[2.0, 2.0], [2.0, 2.0, 2.0]], draws=200) == (2.0, 2.0, 2.0)


def test_two_runs_that_disagree_leave_the_interval_spanning_both() -> None:
    """Runs are drawn first: a draw of the same run twice is as likely as one of each, so one
    run's verdict cannot hide behind the other's rounds."""
    median, low, high = pooled_median([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]], draws=2000)
    assert median == 2.0
    assert (low, high) == (1.0, 3.0)


@pytest.mark.parametrize(
    ("low", "high", "goal", "expected"),
    [
        (1.6, 4.3, 1.5, "missed"),
        (1.1, 1.4, 1.5, "met"),
        (1.2, 2.0, 1.5, "cannot tell"),
        (0.72, 0.80, 0.70, "met"),
        (0.60, 0.68, 0.70, "missed"),
        (0.66, 0.74, 0.70, "cannot tell"),
    ],
)
def test_a_verdict_needs_the_whole_interval_on_one_side(
    low: float, high: float, goal: float, expected: str
) -> None:
    assert verdict(low, high, goal) == expected


def test_the_report_pools_every_run_and_judges_full() -> None:
    saved = [
        (
            {"commit": "abc1234", **({"machine_boot": boot} if boot else {})},
            phase({"bare": [3000] * 3, CONTROL: [3000] * 3, "full": [2400] * 3}, "rps"),
            phase({"bare": [5.0] * 3, CONTROL: [5.0, 4.0, 6.0], "full": [15.0] * 3}, "p99_ms"),
        )
        for boot in ("4665fe72", "")
    ]
    lines = report(saved, draws=500)
    assert lines[0] == (
        "Pooled: 2 runs of `make bench` (commits: abc1234 x2; "
        "machines by boot id: 4665fe72 x1, unrecorded x1)"
    )
    full_capacity = next(line for line in lines if line.lstrip().startswith("full "))
    assert full_capacity.split()[1:5] == ["2", "6", "0.80", "0.80-0.80"]
    assert "Goal: full >= 0.70 x bare throughput -> met (0.80-0.80)" in lines
    assert "Reported (no goal): full p99 at half capacity, x bare's -> 3.00" in lines
    assert not any("p99" in line and line.startswith("Goal") for line in lines)
    control_p99 = [line for line in lines if line.lstrip().startswith(CONTROL)][1]
    assert control_p99.split()[3] == "1.00"


def test_pooling_counts_only_the_runs_that_measured_a_variant() -> None:
    """A capacity-only run (`--no-fixed-rate`) adds its rounds to capacity and nothing to the
    fixed rate; a variant one run left out is pooled over the runs that have it."""
    full_run = (
        {"commit": "abc1234"},
        phase({"bare": [3000] * 3, "full": [2400] * 3}, "rps"),
        phase({"bare": [5.0] * 3, "full": [10.0] * 3}, "p99_ms"),
    )
    capacity_only = (
        {"commit": "abc1234"},
        phase({"bare": [3000] * 2, "full": [2100] * 2, CONTROL: [3000] * 2}, "rps"),
        [],
    )
    pooled = pool([full_run, capacity_only], draws=500)
    assert pooled["capacity"]["full"] == Pooled(runs=2, rounds=5, median=0.8, low=0.7, high=0.8)
    assert pooled["capacity"][CONTROL] == Pooled(runs=1, rounds=2, median=1.0, low=1.0, high=1.0)
    assert pooled["fixed"] == {"full": Pooled(runs=1, rounds=3, median=2.0, low=2.0, high=2.0)}
    assert "bare" not in pooled["capacity"]


def test_the_recorded_runs_pool_with_the_goal_judged_and_the_p99_reported() -> None:
    """The committed runs docs/benchmarks.md's figures are rendered from: each has bare, full and
    the control in both phases, so the capacity goal has a verdict and the p99 a figure."""
    saved = [load_runs(path) for path in recorded_runs()]
    assert saved, "no runs in bench/runs/"
    for about, capacity, paced in saved:
        for phase_runs in (capacity, paced):
            assert {"bare", "full", CONTROL} <= {r.variant for r in phase_runs}, about
    lines = report(saved, draws=200)
    assert sum(line.startswith("Goal: ") for line in lines) == 1
    assert sum(line.startswith("Reported (no goal): ") for line in lines) == 1


def test_queueing_predicts_from_how_busy_each_variant_kept_the_core() -> None:
    """bare at 500 req/s x 1,000 us is 50% busy, full at 500 x 1,500 us 75%: an M/M/1 queue's
    waits at those utilisations are 0.5 / 0.25 = 2x; measured ratios and full's own tail beside."""
    paced = [
        Run("bare", rps=500, p50_ms=2.0, p99_ms=10.0, errors=0, cpu_us=1000),
        Run("full", rps=500, p50_ms=4.0, p99_ms=40.0, errors=0, cpu_us=1500),
    ]
    figures = queueing_figures(paced)
    assert figures["bare"] == [(1.0, 1.0, 1.0, 5.0)]
    assert figures["full"] == [(2.0, 2.0, 4.0, 10.0)]


def test_a_run_records_which_machine_boot_it_ran_on() -> None:
    """The kernel's boot id, shortened: the same within one boot, so runs of one machine match."""
    boot = machine_boot()
    assert re.fullmatch(r"[0-9a-f]{8}", boot), boot
    assert machine_boot() == boot
