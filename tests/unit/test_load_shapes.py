"""Each traffic profile's user count follows its shape over time (run on a clock, not for real)."""

import itertools

import pytest

from loadtest.shapes import PROFILES, ProfileParams, parse_duration, target

PARAMS = ProfileParams(users=40, duration_s=100, spawn_rate=10, spike_factor=4, steps=4)


def users_over_time(profile: str, params: ProfileParams = PARAMS) -> list[int]:
    series = []
    for second in range(0, 200):
        step = target(profile, second, params)
        if step is None:
            break
        series.append(step[0])
    return series


def test_steady_is_flat_and_ends_on_time() -> None:
    series = users_over_time("steady")
    assert series == [40] * 100


def test_steady_without_duration_runs_until_stopped() -> None:
    params = ProfileParams(users=5, duration_s=0)
    assert target("steady", 10_000_000, params) == (5, params.spawn_rate)


def test_ramp_rises_monotonically_to_the_target() -> None:
    series = users_over_time("ramp")
    assert series[0] == 1 and series[-1] >= 39
    assert all(b >= a for a, b in itertools.pairwise(series))
    assert series[50] == 20  # halfway: half the users


def test_spike_jumps_in_the_middle_fifth_and_comes_back() -> None:
    series = users_over_time("spike")
    assert set(series[:40]) == {13} and set(series[60:]) == {13}
    assert set(series[40:60]) == {160}


def test_stairs_climb_in_equal_steps() -> None:
    series = users_over_time("stairs")
    assert [series[i] for i in (0, 25, 50, 75, 99)] == [10, 20, 30, 40, 40]
    assert len(set(series)) == 4


def test_soak_defaults_to_two_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOAD_DURATION", raising=False)
    params = ProfileParams.from_env("soak")
    assert params.duration_s == 7200
    assert target("soak", 7199, params) is not None and target("soak", 7200, params) is None


def test_parameters_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOAD_USERS", "50")
    monkeypatch.setenv("LOAD_DURATION", "2m")
    params = ProfileParams.from_env("spike")
    assert (params.users, params.duration_s) == (50, 120)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("", 0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "m", "1h30"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError):
        target("tsunami", 1, PARAMS)
    assert set(PROFILES) == {"steady", "ramp", "spike", "soak", "stairs"}
