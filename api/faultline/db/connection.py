"""The connection class the pool opens: asyncpg's, plus the `statement_delay` hook.

When a fault asks for it (slow_queries), every statement is preceded by `pg_sleep` on the same
connection: the time is spent inside PostgreSQL (visible in pg_stat_activity) and the connection
is really held, exactly as a slow query would hold it.
"""

from __future__ import annotations

from typing import Any

from faultline import hooks
from faultline.seams import asyncpg as asyncpg_seam


class FaultableConnection(asyncpg_seam.Connection):
    async def execute_statement(
        self,
        query: str,
        args: Any,
        limit: int,
        timeout: Any,
        **kwargs: Any,
    ) -> Any:
        delay = hooks.current().statement_delay()
        if delay:
            await super().execute_statement("SELECT pg_sleep($1)", [delay], 0, timeout)
        return await super().execute_statement(query, args, limit, timeout, **kwargs)
