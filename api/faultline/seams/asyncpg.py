"""asyncpg: one method that every pool acquisition passes through, and one for every statement.

asyncpg has no hook around acquiring a pool connection or running a statement
(`Connection.add_query_logger` reports a statement after it ran). Every way in (`Pool.acquire`,
`async with pool.acquire()`, and so every Tortoise query path) calls `Pool._acquire(timeout)`, and
every query method of a connection calls `Connection._execute(query, args, limit, timeout, ...)`.
These two subclasses route both through public-named methods that faultline.db overrides:
`acquire_connection` (the bounded, measured pool) and `execute_statement` (the slow-query fault).
tests/unit/test_seams.py checks that asyncpg still calls them so.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy


class Pool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no type hints
    async def _acquire(self, timeout: float | None) -> PoolConnectionProxy:
        return await self.acquire_connection(timeout)

    async def acquire_connection(self, timeout: float | None) -> PoolConnectionProxy:
        """asyncpg's own acquisition (`timeout`: None waits for ever)."""
        return await asyncpg.Pool._acquire(self, timeout)


class Connection(asyncpg.Connection):  # type: ignore[misc]
    async def _execute(self, query: str, args: Any, limit: int, timeout: Any, **kwargs: Any) -> Any:
        return await self.execute_statement(query, args, limit, timeout, **kwargs)

    async def execute_statement(
        self,
        query: str,
        args: Any,
        limit: int,
        timeout: Any,
        **kwargs: Any,
    ) -> Any:
        """asyncpg's own statement execution."""
        return await asyncpg.Connection._execute(self, query, args, limit, timeout, **kwargs)
