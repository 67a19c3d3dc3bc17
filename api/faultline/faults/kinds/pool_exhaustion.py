"""pool_exhaustion: requests take connections from the pool and never give them back, until none
is left and queries time out waiting; switching the fault off releases every one of them."""

from __future__ import annotations

import asyncio

import structlog
from pydantic import Field

from faultline.db.pool import current_pool
from faultline.faults.params import RoutedParams
from faultline.faults.spec import FaultSpec
from faultline.json_types import JsonInt

log = structlog.get_logger(__name__)


class PoolExhaustionParams(RoutedParams):
    probability: float = Field(
        1.0, ge=0, le=1, description="Chance that a request leaks one extra pool connection"
    )
    max_leaked: JsonInt = Field(
        100, ge=1, le=200, description="Stop leaking after this many (capped by the pool size)"
    )


class ConnectionLeak:
    """Connections taken from the pool and held, until `release_all`."""

    def __init__(self) -> None:
        self.leaked: list[object] = []
        self._lock = asyncio.Lock()

    async def leak_one(self, max_leaked: int) -> None:
        pool = current_pool()
        if pool is None or len(self.leaked) >= min(max_leaked, pool.get_max_size()):
            return
        async with self._lock:
            try:
                # Bounded: leaking must not itself wait long for the pool it is draining, but must
                # allow for opening a new connection on a cold pool (on a busy machine that took
                # over 50 ms, and the fault never bit: found by tests/hardening).
                connection = await pool.acquire(timeout=0.5)
            except Exception:  # the pool is already exhausted (or the database is down)
                return
            self.leaked.append(connection)

    async def release_all(self) -> int:
        pool = current_pool()
        released, self.leaked = self.leaked, []
        for connection in released:
            if pool is not None:
                await pool.release(connection)
        return len(released)


LEAK = ConnectionLeak()


async def before_request(params: PoolExhaustionParams, route: str) -> None:
    if params.hits(route):
        await LEAK.leak_one(params.max_leaked)


async def switched_off() -> None:
    log.info("fault.pool_exhaustion.released", connections=await LEAK.release_all())


FAULT = FaultSpec(
    "pool_exhaustion",
    "Requests leak pool connections until none is left; queries then time out",
    PoolExhaustionParams,
    (
        "db_client_connection_count",
        "db_client_connection_pending_requests",
        "db_client_connection_wait_time_seconds",
        "db_client_connection_timeouts_total",
        "http_requests_total",
    ),
    position=30,
    before_request=before_request,
    switched_off=switched_off,
)
