"""Keeps the shop stocked: hours of steady load never run the catalogue dry.

Every interval, products under the low-water mark go back to the restock level. Running it on
every replica is harmless (the UPDATE is idempotent). Turn it off (interval 0) where a test or a
scenario wants stock-outs or counts stock.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from faultline.cache import ProductCache
from faultline.db import products as product_queries

log = structlog.get_logger(__name__)


class StockKeeper:
    def __init__(
        self, cache: ProductCache, interval: float, low_water: int, restock_to: int
    ) -> None:
        self._cache = cache
        self._interval = interval
        self._low_water = low_water
        self._restock_to = restock_to
        self._task: asyncio.Task[None] | None = None

    async def replenish_once(self) -> list[int]:
        restocked = await product_queries.restock_below(self._low_water, self._restock_to)
        if restocked:
            await self._cache.invalidate(restocked)
            log.info("stock.replenished", products=len(restocked), level=self._restock_to)
        return restocked

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.replenish_once()
            except Exception as exc:  # the database may be down; try again next tick
                log.warning("stock.replenish_failed", error_type=type(exc).__name__)

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name="stock-keeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
