"""cache_outage: every product-cache call fails as Redis being unreachable would, so reads fall
back to PostgreSQL (the cache's own error handling, exercised for real)."""

from __future__ import annotations

import asyncio

from pydantic import Field
from redis.exceptions import ConnectionError as RedisConnectionError

from faultline.faults.params import FaultParams
from faultline.faults.spec import FaultSpec
from faultline.json_types import JsonInt


class CacheOutageParams(FaultParams):
    failure_delay_ms: JsonInt = Field(
        0, ge=0, le=2_000, description="How long each failing cache call takes (0: refused at once)"
    )


async def before_cache_call(params: CacheOutageParams) -> None:
    if params.failure_delay_ms:
        await asyncio.sleep(params.failure_delay_ms / 1000)
    raise RedisConnectionError("injected fault: cache_outage (Redis unreachable)")


FAULT = FaultSpec(
    "cache_outage",
    "Every cache call fails as if Redis were unreachable; reads fall back to PostgreSQL",
    CacheOutageParams,
    ("cache_requests_total", "db_client_operation_duration_seconds"),
    position=50,
    before_cache_call=before_cache_call,
)
