"""Failed authentications per client, with the `limits` library (what slowapi is built on).

Only failures count: a right token is never refused, so that nobody can lock a facilitator out of
heal by exhausting a shared window. A moving window per client address, in this process's memory:
the control service runs as one process, and a limit that resets on restart is fine for what it
guards against (a script or a person trying tokens). The client address is the connection's
unless FORWARDED_ALLOW_IPS names a proxy: nobody picks their own bucket.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


class FailedAuthLimiter:
    def __init__(self, limit: str) -> None:
        self.limit = parse(limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, client: str) -> int | None:
        """Counts one failed authentication for `client`; None while within the limit, else
        seconds until the window lets one more through."""
        if await self._limiter.hit(self.limit, "control-failed-auth", client):
            return None
        stats = await self._limiter.get_window_stats(self.limit, "control-failed-auth", client)
        return max(1, math.ceil(stats.reset_time - time.time()))
