"""A benchmark probe, not part of the API: CPU work that costs what telemetry costs, without it.

Question it answers: is full telemetry's p99 at half of bare's capacity (`make bench`) what any
extra CPU of that size would do to a single-core event loop, or something the telemetry does
besides (its threads, the GIL, one request in ten doing twice the work)? Run bare with this
directory on PYTHONPATH and Python imports this file at start-up; it then busy-waits on the event
loop inside every request, for as long as the settings say, and does nothing else:

  SYNTHETIC_EVERY_US   on every request (full's untraced overhead, or its whole mean overhead)
  SYNTHETIC_EXTRA_US   more on one request in SYNTHETIC_ONE_IN (default 10), half before the
                       app and half after, as a sampled request's spans and log record do
  SYNTHETIC_ONE_IN

e.g. (from the repository's root; the path must be absolute)
  make bench BENCH_ARGS="--rounds 4 --variants bare-again,full,\
  bare+PYTHONPATH=$PWD/bench/probes/synthetic_work+SYNTHETIC_EVERY_US=143+SYNTHETIC_EXTRA_US=430,\
  bare+PYTHONPATH=$PWD/bench/probes/synthetic_work+SYNTHETIC_EVERY_US=186"

A variant's CPU per request in the same run says whether the settings matched full's (they are
wall-clock times, so a slower machine needs larger ones). Scrapes and health probes get none
(the paths that get no span either: server_span.UNTRACED_PATHS).
What it found is in docs/benchmarks.md ("Why the p99 target is missed, with the figures").
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

EVERY = float(os.environ.get("SYNTHETIC_EVERY_US", "0")) / 1e6
EXTRA = float(os.environ.get("SYNTHETIC_EXTRA_US", "0")) / 1e6
ONE_IN = int(os.environ.get("SYNTHETIC_ONE_IN", "10"))


def busy_wait(seconds: float) -> None:
    """Hold the CPU (and the GIL) for `seconds`, as Python code doing work would."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def install() -> None:
    """Wrap the API's outermost request middleware with the synthetic work."""
    import faultline.middleware as middleware
    from faultline.telemetry.server_span import UNTRACED_PATHS

    inner = middleware.RequestContextMiddleware.__call__

    async def with_synthetic_work(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await inner(self, scope, receive, send)
            return
        extra = EXTRA if EXTRA and random.random() < 1 / ONE_IN else 0.0
        busy_wait(EVERY + extra / 2)
        try:
            await inner(self, scope, receive, send)
        finally:
            if extra:
                busy_wait(extra / 2)

    middleware.RequestContextMiddleware.__call__ = with_synthetic_work  # type: ignore[method-assign]


if EVERY or EXTRA:
    install()
