"""The connection class the pool opens: asyncpg's, plus the `statement_delay` seam.

When a fault asks for it (slow_queries), every statement is preceded by `pg_sleep` on the same
connection: the time is spent inside PostgreSQL (visible in pg_stat_activity) and the connection
is really held, exactly as a slow query would hold it.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from faultline import hooks


class FaultableConnection(asyncpg.Connection):  # type: ignore[misc]
    async def _execute(self, query: str, args: Any, limit: int, timeout: Any, **kwargs: Any) -> Any:  # noqa: ASYNC109
        delay = hooks.current().statement_delay()
        if delay:
            await super()._execute("SELECT pg_sleep($1)", [delay], 0, timeout)
        return await super()._execute(query, args, limit, timeout, **kwargs)
