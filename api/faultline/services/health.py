"""Liveness and readiness.

Readiness opens its own short-lived PostgreSQL connection rather than borrowing from the pool: it
answers "can this replica reach its database?", which must stay true while the lab exhausts the
pool on purpose (that shows on the pool metrics, not as a replica dropping out). Redis down is
"degraded": reads fall back to the database, so the replica still serves.

Readiness is reachable by anyone through the proxy, so it is bounded: one check at a time per
replica, and callers that queued behind a check get the answer of the next one to start after
they arrived (never an older one). A flood of checks costs one PostgreSQL connection at a time,
not one per call around the pool's limit.
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


async def _postgres_probe(database_url: str, application_name: str) -> None:
    connection = await asyncpg.connect(
        database_url,
        timeout=CHECK_TIMEOUT_SECONDS,
        server_settings={"application_name": application_name},
    )
    try:
        await connection.fetchval("SELECT 1")
    finally:
        await connection.close(timeout=CHECK_TIMEOUT_SECONDS)


class HealthService:
    def __init__(self, database_url: str, redis: Redis, service_name: str) -> None:
        self._database_url = database_url
        self._redis = redis
        self._application_name = f"{service_name}-readiness"  # its own line in pg_stat_activity
        self._lock = asyncio.Lock()
        self._last: tuple[float, tuple[bool, Health]] | None = None  # (when it started, result)

    async def readiness(self) -> tuple[bool, Health]:
        arrived = time.monotonic()
        async with self._lock:
            if self._last is not None and self._last[0] >= arrived:
                return self._last[1]  # a check that started after this call arrived
            started = time.monotonic()
            result = await self._check()
            self._last = (started, result)
            return result

    async def _check(self) -> tuple[bool, Health]:
        postgres, redis = await asyncio.gather(
            _timed("postgres", _postgres_probe(self._database_url, self._application_name)),
            _timed("redis", self._redis.ping()),
        )
        ready = postgres.status == "up"
        status = "ready" if redis.status == "up" else "degraded"
        return ready, Health(status=status if ready else "unavailable", checks=[postgres, redis])
