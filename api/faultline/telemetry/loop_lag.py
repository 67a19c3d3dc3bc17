"""Event-loop lag, sampled continuously.

A task asks to sleep a fixed interval and records how much later than asked it woke up. A loop
blocked by synchronous work shows up as one large observation when the block ends; a loop that
is merely busy shows as many small ones.
"""

from __future__ import annotations

import asyncio
import contextlib

from faultline.telemetry.metrics import EVENT_LOOP_LAG


class LoopLagMonitor:
    def __init__(self, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self._interval)
            EVENT_LOOP_LAG.observe(max(0.0, loop.time() - started - self._interval))

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name="loop-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
