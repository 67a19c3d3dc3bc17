"""event_loop_block: synchronous work inside an async handler, which blocks the event loop for
every request the replica is serving, not just this one."""

from __future__ import annotations

import time

from pydantic import Field

from faultline.faults.params import RoutedParams
from faultline.faults.spec import FaultSpec
from faultline.json_types import JsonInt


class EventLoopBlockParams(RoutedParams):
    block_ms: JsonInt = Field(
        200, ge=1, le=5_000, description="Synchronous work per affected request"
    )
    probability: float = Field(0.2, ge=0, le=1, description="Share of requests that block the loop")


async def before_request(params: EventLoopBlockParams, route: str) -> None:
    if params.hits(route):
        time.sleep(params.block_ms / 1000)  # noqa: ASYNC251  (the fault itself)


FAULT = FaultSpec(
    "event_loop_block",
    "Synchronous work inside async handlers blocks the event loop",
    EventLoopBlockParams,
    ("asyncio_event_loop_lag_seconds", "http_request_duration_seconds"),
    position=60,
    before_request=before_request,
)
