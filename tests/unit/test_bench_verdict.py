"""How `make bench` states its verdict on the capacity goal, and reports the p99 (no goal): full's
ratio to bare in every round, the control's (bare-again: bare's settings once more) beside it,
and a warning when the control alone is as far from 1 as the goal allows. Built from runs as
bench/telemetry_cost.py records them."""

from __future__ import annotations

from pathlib import Path

from bench.telemetry_cost import CONTROL, Run, goal_lines, round_ratios, variant_env

ROOT = Path(__file__).resolve().parents[2]


def runs(p99_by_round: dict[str, list[float]], rps: float = 1000.0) -> list[Run]:
    """Runs with the given p99 per round for each variant, in a rotated order as bench runs them."""
    out = []
    for name, values in reversed(p99_by_round.items()):
        for round_no, p99 in enumerate(values):
            out.append(Run(name, rps, 1.0, p99, 0, round_no=round_no))
    return out


def test_round_ratios_pair_each_run_with_bare_of_the_same_round() -> None:
    paced = runs({"bare": [2.0, 4.0, 5.0], "full": [3.0, 4.0, 10.0]})
    assert round_ratios(paced, "full", "p99_ms") == [1.5, 1.0, 2.0]


def test_the_p99_at_half_capacity_is_reported_with_its_control_and_not_judged() -> None:
    paced = runs({"bare": [2.0, 4.0, 5.0], CONTROL: [3.0, 6.0, 8.0], "full": [3.0, 4.0, 10.0]})
    (line,) = goal_lines([], paced)
    assert line.startswith("Reported: full p99 at half capacity, x bare's -> 1.50")
    assert "rounds 1.50, 1.00, 2.00" in line
    assert f"{CONTROL}, bare's settings again: 1.50 (rounds 1.50, 1.50, 1.60)" in line
    assert "Goal" not in line and "cannot judge" not in line  # the goal was withdrawn


def test_the_capacity_goal_has_its_own_threshold() -> None:
    capacity = [
        Run("bare", 3000, 1, 20, 0, round_no=0),
        Run(CONTROL, 2200, 1, 20, 0, round_no=0),  # 0.73: noise, but inside the 0.70 goal
        Run("full", 2400, 1, 20, 0, round_no=0),
        Run("bare", 3000, 1, 20, 0, round_no=1),
        Run(CONTROL, 1900, 1, 20, 0, round_no=1),  # 0.63
        Run("full", 2100, 1, 20, 0, round_no=1),
    ]
    (line,) = goal_lines(capacity, [])
    assert line.startswith("Goal: full >= 0.70 x bare throughput -> 0.75 (rounds 0.80, 0.70)")
    assert "cannot judge" in line  # the control's median, 0.68, is further from 1 than 0.70
    capacity[4] = Run(CONTROL, 2900, 1, 20, 0, round_no=1)
    (line,) = goal_lines(capacity, [])
    assert "cannot judge" not in line


def test_without_a_control_the_verdict_is_full_against_bare_alone() -> None:
    capacity = [
        Run("bare", 3000, 1, 20, 0, round_no=0),
        Run("full", 2400, 1, 20, 0, round_no=0),
        Run("bare", 3000, 1, 20, 0, round_no=1),
        Run("full", 2700, 1, 20, 0, round_no=1),
    ]
    (line,) = goal_lines(capacity, [])
    assert line == "Goal: full >= 0.70 x bare throughput -> 0.85 (rounds 0.80, 0.90)"


def test_the_control_runs_exactly_bare_settings() -> None:
    base = {"DATABASE_URL": "postgresql://x/y"}
    assert variant_env(CONTROL, base, "http://sink") == variant_env("bare", base, "http://sink")
