"""Rate limiting of fault changes, with the `limits` library (what slowapi is built on).

A moving window per client address, in this process's memory: the control service runs as one
process, and a limit that resets on restart is fine for what it guards against (a script gone
wrong flipping faults in a loop, or someone guessing the token).
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


class WriteLimiter:
    def __init__(self, limit: str) -> None:
        self.limit = parse(limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, client: str) -> int | None:
        """Counts one write for `client`; None if allowed, else seconds until one is."""
        if await self._limiter.hit(self.limit, "control-writes", client):
            return None
        stats = await self._limiter.get_window_stats(self.limit, "control-writes", client)
        return max(1, math.ceil(stats.reset_time - time.time()))
