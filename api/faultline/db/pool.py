"""The connection pool with a bounded wait.

Tortoise acquires pool connections with no timeout: when every connection is held, a query waits
forever and nothing shows it. Every Tortoise query path (plain queries, transactions, raw SQL)
goes through `asyncpg.Pool._acquire`, so bounding the wait there covers all of them at once:
`faultline.db.backend` makes Tortoise build this pool instead of asyncpg's own.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from faultline.db.errors import PoolAcquireTimeout


class BoundedPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no type hints
    """An asyncpg pool whose acquisitions give up after `acquire_timeout` seconds."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout
        # Tasks currently waiting for a connection: asyncpg keeps no such count.
        self.pending_acquires = 0

    # The parameter name is asyncpg's, and this overrides asyncpg's method.
    async def _acquire(self, timeout: float | None) -> PoolConnectionProxy:  # noqa: ASYNC109
        limit = self.acquire_timeout if timeout is None else timeout
        self.pending_acquires += 1
        started = time.monotonic()
        try:
            return await super()._acquire(limit)
        except TimeoutError as exc:
            # Also reached when opening a new connection takes longer than the limit:
            # either way no connection was available in time.
            if time.monotonic() - started >= limit * 0.99:
                raise PoolAcquireTimeout(limit) from exc
            raise
        finally:
            self.pending_acquires -= 1

    def held_connections(self) -> int:
        """Connections currently checked out by requests."""
        return int(self.get_size() - self.get_idle_size())


# Pool() has no defaults of its own; asyncpg.create_pool supplies them. Take them from there.
_CREATE_POOL_DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(asyncpg.create_pool).parameters.items()
    if param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is not inspect.Parameter.empty
}


async def create_bounded_pool(acquire_timeout: float, **kwargs: Any) -> BoundedPool:
    pool = BoundedPool(None, acquire_timeout=acquire_timeout, **{**_CREATE_POOL_DEFAULTS, **kwargs})
    await pool
    return pool


def current_pool() -> BoundedPool | None:
    """The default connection's pool, or None before the first connect."""
    from tortoise import connections

    pool = getattr(connections.get("default"), "_pool", None)
    return pool if isinstance(pool, BoundedPool) else None


__all__ = ["BoundedPool", "create_bounded_pool", "current_pool"]
