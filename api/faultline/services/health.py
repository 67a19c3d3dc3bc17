"""Liveness and readiness.

Readiness opens its own short-lived PostgreSQL connection rather than borrowing from the pool: it
answers "can this replica reach its database?", which must stay true while the lab exhausts the
pool on purpose (that shows on the pool metrics, not as a replica dropping out). Redis down is
"degraded": reads fall back to the database, so the replica still serves.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from faultline.schemas import Health, HealthCheck

CHECK_TIMEOUT_SECONDS = 1.0


async def _timed(component: str, probe: asyncio.Future[object] | object) -> HealthCheck:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except (
        TimeoutError,
        OSError,
        RedisError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return HealthCheck(component=component, status="down", error=reason)
    latency = round((time.perf_counter() - started) * 1000, 2)
    return HealthCheck(component=component, status="up", latency_ms=latency)


async def _postgres_probe(database_url: str) -> None:
    connection = await asyncpg.connect(database_url, timeout=CHECK_TIMEOUT_SECONDS)
    try:
        await connection.fetchval("SELECT 1")
    finally:
        await connection.close(timeout=CHECK_TIMEOUT_SECONDS)


class HealthService:
    def __init__(self, database_url: str, redis: Redis) -> None:
        self._database_url = database_url
        self._redis = redis

    async def readiness(self) -> tuple[bool, Health]:
        postgres, redis = await asyncio.gather(
            _timed("postgres", _postgres_probe(self._database_url)),
            _timed("redis", self._redis.ping()),
        )
        ready = postgres.status == "up"
        status = "ready" if redis.status == "up" else "degraded"
        return ready, Health(status=status if ready else "unavailable", checks=[postgres, redis])
