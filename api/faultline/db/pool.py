"""The connection pool: a bounded wait, and the pool seen from the client side.

Tortoise acquires pool connections with no timeout: when every connection is held, a query waits
forever and nothing shows it. Every Tortoise query path (plain queries, transactions, raw SQL)
goes through one acquisition method (faultline.seams.asyncpg) and `Pool.release`, so this pool
bounds and measures both there, once for all of them; `faultline.db.backend` makes Tortoise build
it.

Measured here: time to acquire, time held, waiters, timeouts (Prometheus, OTel names), and a
span in the request's trace whenever acquiring took longer than a threshold.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from faultline.db.errors import PoolAcquireTimeout
from faultline.db.query_names import record_query
from faultline.seams import asyncpg as asyncpg_seam
from faultline.telemetry.metrics import (
    DB_CONNECTION_COUNT,
    DB_CONNECTION_MAX,
    DB_CONNECTION_PENDING,
    DB_CONNECTION_TIMEOUTS,
    DB_CONNECTION_USE,
    DB_CONNECTION_WAIT,
)

POOL_NAME = "default"
tracer = trace.get_tracer(__name__)


class BoundedPool(asyncpg_seam.Pool):
    """An asyncpg pool whose acquisitions give up after `acquire_timeout` seconds."""

    def __init__(
        self, *args: Any, acquire_timeout: float, wait_span_threshold: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout
        self.wait_span_threshold = wait_span_threshold
        self.name = POOL_NAME
        # Tasks currently waiting for a connection: asyncpg keeps no such count.
        self.pending_acquires = 0
        # When each checked-out connection was handed out (proxies have __slots__, so a dict).
        self._acquired_at: dict[int, float] = {}
        self._wait_histogram = DB_CONNECTION_WAIT.labels(self.name)
        self._use_histogram = DB_CONNECTION_USE.labels(self.name)
        self._timeouts = DB_CONNECTION_TIMEOUTS.labels(self.name)  # exported at 0 from the start
        # Gauges read the pool itself at scrape time: never stale, nothing to update per query.
        DB_CONNECTION_MAX.labels(self.name).set_function(self.get_max_size)
        DB_CONNECTION_COUNT.labels(self.name, "used").set_function(self.held_connections)
        DB_CONNECTION_COUNT.labels(self.name, "idle").set_function(self.get_idle_size)
        DB_CONNECTION_PENDING.labels(self.name).set_function(lambda: self.pending_acquires)

    # The parameter name is asyncpg's.
    async def acquire_connection(self, timeout: float | None) -> PoolConnectionProxy:
        limit = self.acquire_timeout if timeout is None else timeout
        self.pending_acquires += 1
        started = time.perf_counter()
        started_ns = time.time_ns()
        try:
            proxy = await super().acquire_connection(limit)
        except TimeoutError as exc:
            waited = time.perf_counter() - started
            self._wait_histogram.observe(waited)
            # Also reached when opening a new connection takes longer than the limit:
            # either way no connection was available in time.
            if waited >= limit * 0.99:
                self._timeouts.inc()
                self._wait_span(started_ns, waited, timed_out=True)
                raise PoolAcquireTimeout(limit) from exc
            raise
        finally:
            self.pending_acquires -= 1
        waited = time.perf_counter() - started
        self._wait_histogram.observe(waited)
        if waited >= self.wait_span_threshold:
            self._wait_span(started_ns, waited, timed_out=False)
        self._acquired_at[id(proxy)] = time.perf_counter()
        return proxy

    async def release(
        self, connection: PoolConnectionProxy, *, timeout: float | None = None
    ) -> None:
        acquired_at = self._acquired_at.pop(id(connection), None)
        if acquired_at is not None:
            self._use_histogram.observe(time.perf_counter() - acquired_at)
        await super().release(connection, timeout=timeout)

    def _wait_span(self, started_ns: int, waited: float, *, timed_out: bool) -> None:
        """A span covering the wait, in the current trace, drawn after the fact."""
        span = tracer.start_span(
            "db.client.connection.acquire",
            start_time=started_ns,
            attributes={
                "db.client.connection.pool.name": self.name,
                "faultline.pool.wait_ms": round(waited * 1000, 2),
                "faultline.pool.timed_out": timed_out,
            },
        )
        if timed_out:
            span.set_status(StatusCode.ERROR, "no connection within the acquire timeout")
        span.end(end_time=started_ns + int(waited * 1e9))

    def held_connections(self) -> int:
        """Connections currently checked out by requests."""
        return int(self.get_size() - self.get_idle_size())


# Pool() has no defaults of its own; asyncpg.create_pool supplies them. Take them from there.
_CREATE_POOL_DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(asyncpg.create_pool).parameters.items()
    if param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is not inspect.Parameter.empty
}


async def _on_new_connection(connection: asyncpg.Connection) -> None:
    # asyncpg times every statement itself and calls this back (off the query's path).
    connection.add_query_logger(record_query)


async def create_bounded_pool(
    acquire_timeout: float, wait_span_threshold: float, **kwargs: Any
) -> BoundedPool:
    options = {**_CREATE_POOL_DEFAULTS, **kwargs, "init": _on_new_connection}
    pool = BoundedPool(
        None, acquire_timeout=acquire_timeout, wait_span_threshold=wait_span_threshold, **options
    )
    await pool
    return pool


def current_pool() -> BoundedPool | None:
    """The default connection's pool, or None before the first connect."""
    from tortoise import connections

    pool = getattr(connections.get("default"), "bounded_pool", None)
    return pool if isinstance(pool, BoundedPool) else None
