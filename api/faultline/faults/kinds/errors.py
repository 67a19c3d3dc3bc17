"""errors: an exception raised inside the handler, answered as a 500 and recorded on the trace.

Its request hook raises, so it runs after every other fault's (position 95)."""

from __future__ import annotations

from pydantic import Field

from faultline.faults.params import RoutedParams
from faultline.faults.spec import FaultSpec


class InjectedError(RuntimeError):
    """The `errors` fault: an exception from inside the handler, answered like any other 500."""


class ErrorParams(RoutedParams):
    probability: float = Field(0.1, ge=0, le=1, description="Share of requests that fail with 500")


async def before_request(params: ErrorParams, route: str) -> None:
    if params.hits(route):
        raise InjectedError("injected fault: errors")


FAULT = FaultSpec(
    "errors",
    "Raises an exception inside the handler: HTTP 500, recorded on the trace",
    ErrorParams,
    ("http_requests_total",),
    position=95,
    before_request=before_request,
)
