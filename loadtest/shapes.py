"""Traffic profiles: how many simulated shoppers there are at each moment of a run.

Pure functions of elapsed time (no Locust import), so tests can run them on a clock. The Locust
shape class in locustfile.py asks `target(profile, elapsed)` every second.

Profiles (parameters from the environment, see `ProfileParams`):
  steady  USERS shoppers for the whole run
  ramp    0 -> USERS evenly over the run
  spike   a third of USERS, then SPIKE_FACTOR x USERS for the middle fifth, then back
  soak    USERS for a long run (DURATION defaults to 2 hours)
  stairs  USERS/STEPS more every DURATION/STEPS: find the knee
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILES = ("steady", "ramp", "spike", "soak", "stairs")


@dataclass(frozen=True)
class ProfileParams:
    users: int = 20
    duration_s: float = 600.0  # 0: run until stopped (steady and soak only)
    spawn_rate: float = 10.0
    spike_factor: float = 4.0
    steps: int = 5

    @classmethod
    def from_env(cls, profile: str) -> ProfileParams:
        default_duration = 7200.0 if profile == "soak" else (0.0 if profile == "steady" else 600.0)
        return cls(
            users=int(os.environ.get("LOAD_USERS", cls.users)),
            duration_s=parse_duration(os.environ.get("LOAD_DURATION", "")) or default_duration,
            spawn_rate=float(os.environ.get("LOAD_SPAWN_RATE", cls.spawn_rate)),
            spike_factor=float(os.environ.get("LOAD_SPIKE_FACTOR", cls.spike_factor)),
            steps=int(os.environ.get("LOAD_STEPS", cls.steps)),
        )


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1h30m' -> seconds; '' -> 0."""
    text = text.strip().lower()
    if not text:
        return 0.0
    if text.replace(".", "", 1).isdigit():
        return float(text)
    total, number = 0.0, ""
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in "hms" and number:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
        else:
            raise ValueError(f"bad duration {text!r} (use e.g. 90s, 5m, 1h30m)")
    if number:
        raise ValueError(f"bad duration {text!r}: a number without a unit at the end")
    return total


def target(profile: str, elapsed: float, params: ProfileParams) -> tuple[int, float] | None:
    """(users, spawn rate) at `elapsed` seconds into the run, or None when the run is over."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    duration = params.duration_s
    if duration and elapsed >= duration:
        return None
    users, rate = params.users, params.spawn_rate
    if profile in ("steady", "soak"):
        return users, rate
    if profile == "ramp":
        ramp_users = max(1, round(users * elapsed / duration))
        return ramp_users, max(rate, users / max(duration, 1))
    if profile == "spike":
        start, end = duration * 0.4, duration * 0.6
        if start <= elapsed < end:
            return max(1, round(users * params.spike_factor)), max(
                rate, users * params.spike_factor
            )
        return max(1, round(users / 3)), max(rate, users)
    # stairs
    step_length = duration / params.steps
    step = min(params.steps, int(elapsed // step_length) + 1)
    return max(1, round(users * step / params.steps)), rate
