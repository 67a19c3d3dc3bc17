"""Graceful shutdown: drain first, then stop.

On SIGTERM (what `docker stop` and Kubernetes send) the API does not stop accepting at once:
for `SHUTDOWN_DRAIN_SECONDS` readiness answers 503 `draining` while requests are still served,
so a load balancer or proxy that polls readiness moves traffic elsewhere without a single refused
connection. Then uvicorn's own graceful shutdown: the listening socket closes, in-flight requests
finish (up to `SHUTDOWN_TIMEOUT_SECONDS`), and the lifespan shuts down: fault effects released,
Redis and the PostgreSQL pool closed, queued spans and log records flushed. A second signal skips
the drain.
"""

from __future__ import annotations

import asyncio
import signal
import time
from types import FrameType

import structlog
import uvicorn

log = structlog.get_logger(__name__)


class DrainState:
    """Process-wide: set once the first stop signal arrives."""

    def __init__(self) -> None:
        self.draining_since: float | None = None

    @property
    def draining(self) -> bool:
        return self.draining_since is not None


DRAIN = DrainState()


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if DRAIN.draining or self.drain_seconds <= 0:
            super().handle_exit(sig, frame)
            return
        DRAIN.draining_since = time.monotonic()
        log.info(
            "api.draining",
            signal=signal.Signals(sig).name,
            drain_seconds=self.drain_seconds,
        )
        # Signal handlers run between bytecodes of the loop's thread: schedule, don't block.
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(
            loop.call_later, self.drain_seconds, super().handle_exit, sig, frame
        )
