"""Fault state in Redis, shared by every replica and the control service.

One key per active fault, `faultline:fault:<name>`, holding its parameters, with a Redis TTL:
Redis itself switches a forgotten fault off. Every change is published on
`faultline:faults:changed` so replicas re-read at once (they also re-read every second).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from faultline.faults.catalogue import CATALOGUE

KEY_PREFIX = "faultline:fault:"
CHANNEL = "faultline:faults:changed"


@dataclass(frozen=True)
class ActiveFault:
    name: str
    params: dict[str, Any]
    enabled_at: float
    expires_at: float

    @property
    def seconds_left(self) -> float:
        return max(0.0, self.expires_at - time.time())


class FaultStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def enable(self, name: str, params: dict[str, Any], ttl_seconds: int) -> ActiveFault:
        now = time.time()
        fault = ActiveFault(name, params, now, now + ttl_seconds)
        payload = {"params": params, "enabled_at": now, "expires_at": fault.expires_at}
        await self._redis.set(KEY_PREFIX + name, json.dumps(payload), ex=ttl_seconds)
        await self._redis.publish(CHANNEL, name)
        return fault

    async def disable(self, name: str) -> bool:
        removed = bool(await self._redis.delete(KEY_PREFIX + name))
        await self._redis.publish(CHANNEL, name)
        return removed

    async def disable_all(self) -> list[str]:
        names = list(await self.read_all())
        if names:
            await self._redis.delete(*(KEY_PREFIX + n for n in names))
        await self._redis.publish(CHANNEL, "*")
        return names

    async def read_all(self) -> dict[str, ActiveFault]:
        names = list(CATALOGUE)
        values = await self._redis.mget([KEY_PREFIX + n for n in names])
        active = {}
        for name, raw in zip(names, values, strict=True):
            if raw is None:
                continue
            data = json.loads(raw)
            active[name] = ActiveFault(name, data["params"], data["enabled_at"], data["expires_at"])
        return active
