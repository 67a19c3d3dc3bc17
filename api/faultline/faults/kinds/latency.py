"""latency: a delay (fixed + jitter) before the handler of the requests it hits."""

from __future__ import annotations

import asyncio
import random

from pydantic import Field

from faultline.faults.params import RoutedParams
from faultline.faults.spec import FaultSpec
from faultline.json_types import JsonInt


class LatencyParams(RoutedParams):
    delay_ms: JsonInt = Field(300, ge=0, le=10_000, description="Fixed delay added to each request")
    jitter_ms: JsonInt = Field(200, ge=0, le=10_000, description="Up to this much more, at random")


async def before_request(params: LatencyParams, route: str) -> None:
    if params.hits(route):
        await asyncio.sleep((params.delay_ms + random.uniform(0, params.jitter_ms)) / 1000)


FAULT = FaultSpec(
    "latency",
    "Adds a delay (fixed + jitter) to requests on chosen routes",
    LatencyParams,
    ("http_request_duration_seconds",),
    position=10,
    before_request=before_request,
)
