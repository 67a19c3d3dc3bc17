"""The garbage collector's settings for a long-running server process.

With CPython's defaults (thresholds 700/10/10) the collector took a fifth of the API's CPU under
load: mostly full collections, each walking the objects the process holds for its whole life
(modules, classes, routes, pydantic validators) while every request in flight waits (figures in
docs/telemetry.md). Two standard remedies:

- `gc.freeze()` once start-up is done: those objects live as long as the process, so they move to
  a permanent generation that collections skip (full collections fell to 3-5 ms);
- a higher generation-0 threshold: a request's objects are freed by reference counting as it
  ends, so collecting every 700 allocations mostly walks the objects of requests still in flight
  and promotes them to older generations for nothing. At 20,000, collections under load became
  rare. Only reference cycles wait longer to be freed: at most that many objects' worth.

GC_FREEZE_AFTER_STARTUP=false and GC_GEN0_THRESHOLD=700 restore CPython's behaviour.
"""

from __future__ import annotations

import gc


def tune_garbage_collector(freeze: bool, gen0_threshold: int) -> int:
    """Apply the settings; returns how many objects were frozen."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
    if freeze:
        gc.collect()  # what start-up left as garbage is freed, not frozen
        gc.freeze()
    return gc.get_freeze_count()
