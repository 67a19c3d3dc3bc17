"""Fault state in Redis, shared by every replica and the control service.

One key per active fault, `faultline:fault:<name>`, holding its parameters and times, with a Redis
TTL: Redis itself switches a forgotten fault off. Every change is published on
`faultline:faults:changed` so replicas re-read at once (they also re-read every second).

Whatever is read back is validated as if it came from a client: anyone who can reach Redis can
write there, and one bad entry must not stop a replica from syncing. An entry that is not JSON,
has the wrong shape, parameters outside the catalogue's bounds or a lifetime beyond the longest
TTL is reported (`StoreProblem`) and treated as off; one past its expiry is off even if Redis
kept it. Heal deletes every key under the prefix, bad ones included.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from faultline.faults.catalogue import CATALOGUE, MAX_TTL_SECONDS
from faultline.faults.params import FaultParams

KEY_PREFIX = "faultline:fault:"
CHANNEL = "faultline:faults:changed"
# Clocks of the control service and the replicas may differ a little.
CLOCK_SKEW_SECONDS = 60.0


@dataclass(frozen=True)
class ActiveFault:
    name: str
    params: FaultParams  # an instance of the fault's own model, checked against its bounds
    enabled_at: float
    expires_at: float

    @property
    def seconds_left(self) -> float:
        return max(0.0, self.expires_at - time.time())


@dataclass(frozen=True)
class StoreProblem:
    """A store entry that was read and refused: which key, and what is wrong with it."""

    key: str
    problem: str


@dataclass(frozen=True)
class Snapshot:
    active: dict[str, ActiveFault] = field(default_factory=dict)
    problems: list[StoreProblem] = field(default_factory=list)


class InvalidEntry(ValueError):
    pass


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidEntry(f"{key} is not a number")
    return float(value)


def parse_entry(name: str, raw: bytes | str, now: float) -> ActiveFault | None:
    """The fault a stored value describes, None if it has expired; InvalidEntry if it is bad."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEntry("not JSON") from exc
    if not isinstance(data, dict) or set(data) != {"params", "enabled_at", "expires_at"}:
        raise InvalidEntry("not an object with exactly params, enabled_at and expires_at")
    enabled_at, expires_at = _number(data, "enabled_at"), _number(data, "expires_at")
    if not enabled_at < expires_at <= now + MAX_TTL_SECONDS + CLOCK_SKEW_SECONDS:
        raise InvalidEntry("expires_at is before enabled_at or beyond the longest TTL")
    if not isinstance(data["params"], dict):
        raise InvalidEntry("params is not an object")
    try:
        params = CATALOGUE[name].params.model_validate(data["params"])
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) or "params" for e in exc.errors())
        raise InvalidEntry(f"parameters outside the catalogue's bounds: {fields}") from exc
    if expires_at <= now:
        return None  # Redis kept a key with no TTL (or the clock is behind): off all the same
    return ActiveFault(name, params, enabled_at, expires_at)


class FaultStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def enable(self, name: str, params: dict[str, Any], ttl_seconds: int) -> ActiveFault:
        """Turn `name` on with `params` (already checked by the caller; checked again here)."""
        now = time.time()
        model = CATALOGUE[name].params.model_validate(params)
        fault = ActiveFault(name, model, now, now + ttl_seconds)
        payload = {
            "params": model.model_dump(mode="json"),
            "enabled_at": now,
            "expires_at": fault.expires_at,
        }
        await self._redis.set(KEY_PREFIX + name, json.dumps(payload), ex=ttl_seconds)
        await self._redis.publish(CHANNEL, name)
        return fault

    async def disable(self, name: str) -> bool:
        removed = bool(await self._redis.delete(KEY_PREFIX + name))
        await self._redis.publish(CHANNEL, name)
        return removed

    async def disable_all(self) -> list[str]:
        """Every fault off: each key under the prefix goes, valid or not, known fault or not.
        Returns the faults that were active."""
        active = (await self.read()).active
        keys = [key async for key in self._redis.scan_iter(match=KEY_PREFIX + "*", count=100)]
        if keys:
            await self._redis.delete(*keys)
        await self._redis.publish(CHANNEL, "*")
        return list(active)

    async def read_all(self) -> dict[str, ActiveFault]:
        return (await self.read()).active

    async def read(self) -> Snapshot:
        """Every catalogue fault's entry, validated: the active ones, and what was refused.
        (A key holding another Redis type reads as nil here: off, and heal deletes it.)"""
        names = list(CATALOGUE)
        values = await self._redis.mget([KEY_PREFIX + n for n in names])
        now = time.time()
        snapshot = Snapshot()
        for name, raw in zip(names, values, strict=True):
            if raw is None:
                continue
            try:
                fault = parse_entry(name, raw, now)
            except InvalidEntry as exc:
                snapshot.problems.append(StoreProblem(KEY_PREFIX + name, str(exc)))
                continue
            if fault is not None:
                snapshot.active[name] = fault
        return snapshot
