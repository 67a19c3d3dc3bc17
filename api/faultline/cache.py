"""Cache-aside for product reads, in Redis.

The cache is an optimisation, never a dependency: every failure (Redis down, slow, wrong data) is
reported as a miss-with-error and the caller reads PostgreSQL instead. Timeouts are short (see
Settings.redis_timeout_seconds) so a dead Redis costs milliseconds.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable

import structlog
from pydantic import ValidationError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from faultline import hooks
from faultline.config import Settings
from faultline.schemas import ProductOut
from faultline.telemetry.metrics import CACHE_DURATION, CACHE_REQUESTS

log = structlog.get_logger(__name__)


class CacheResult(enum.StrEnum):
    HIT = "hit"
    MISS = "miss"
    ERROR = "error"


# Every result series exists from the start (at 0): alerts on rate() need a series to work on.
for _result in CacheResult:
    CACHE_REQUESTS.labels(_result.value)


def product_key(product_id: int) -> str:
    return f"product:{product_id}"


def create_redis(settings: Settings, max_connections: int | None = None) -> Redis:
    """A client on a bounded pool (`redis_max_connections` unless given): a burst of concurrent
    requests waits up to the timeout for a connection (then the cache call fails and the read
    falls back to the database) instead of opening one connection per request in flight."""
    pool = BlockingConnectionPool.from_url(
        str(settings.redis_url),
        max_connections=max_connections or settings.redis_max_connections,
        timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        # No retries: a failed cache call falls back to the database at once.
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return Redis.from_pool(pool)


class ProductCache:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def get(self, product_id: int) -> tuple[CacheResult, ProductOut | None]:
        result, product = await self._lookup(product_id)
        CACHE_REQUESTS.labels(result.value).inc()
        return result, product

    async def _lookup(self, product_id: int) -> tuple[CacheResult, ProductOut | None]:
        started = time.perf_counter()
        try:
            await hooks.current().before_cache_call()
            raw = await self._redis.get(product_key(product_id))
        except RedisError as exc:
            log.warning("cache.error", op="get", error_type=type(exc).__name__)
            return CacheResult.ERROR, None
        finally:
            CACHE_DURATION.labels("get").observe(time.perf_counter() - started)
        if raw is None:
            return CacheResult.MISS, None
        try:
            return CacheResult.HIT, ProductOut.model_validate_json(raw)
        except ValidationError:
            # An entry written by an older version: treat as a miss, it will be overwritten.
            return CacheResult.MISS, None

    async def put(self, product: ProductOut) -> None:
        started = time.perf_counter()
        try:
            await hooks.current().before_cache_call()
            await self._redis.set(product_key(product.id), product.model_dump_json(), ex=self._ttl)
        except RedisError as exc:
            log.warning("cache.error", op="set", error_type=type(exc).__name__)
        finally:
            CACHE_DURATION.labels("set").observe(time.perf_counter() - started)

    async def invalidate(self, product_ids: Iterable[int]) -> None:
        keys = [product_key(pid) for pid in product_ids]
        if not keys:
            return
        try:
            await hooks.current().before_cache_call()
            await self._redis.delete(*keys)
        except RedisError as exc:
            # The TTL bounds how long a stale stock figure can be served.
            log.warning("cache.error", op="invalidate", error_type=type(exc).__name__)
