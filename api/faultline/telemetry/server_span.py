"""The server span of every HTTP request, and what keeps an unsampled request cheap.

`ServerSpan.start(scope, tracer)` continues the caller's trace (W3C `traceparent`, through the
globally configured propagators) or starts one, asks the sampler, and makes the span current;
`finish(method, route, status)` names it `{method} {route}`, sets the HTTP semantic-convention
attributes and ends it. RequestContextMiddleware calls both, around everything else the API does
for the request, so request metrics (exemplars) and the access log line are recorded inside it.

Cost is the point of this module. Measured before it existed (the real API under wrk, GET
/api/v1/products/{id}, CPU time of the API process per request, one setting changed at a time,
2026-11-23):
- FastAPI's native tracing (which made the server span) ~100 us, sampled or not: it builds every
  attribute, parses the query string and wraps send/receive for every request;
- the Redis instrumentation ~120 us in the server (20 us per call in isolation), spent mostly on
  requests that were not sampled (nine in ten at the default ratio), whose spans are dropped.
So here attributes are built only for a span that records, and a request the sampler dropped runs
with instrumentation suppressed (OpenTelemetry's standard context key): the Redis and Tortoise
instrumentations return at their first line instead of making spans that parent-based sampling
would drop anyway. Nothing is lost: those spans would not have been exported, and neither library
propagates context anywhere. Service spans are skipped there too (faultline.telemetry.spans).
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from starlette.types import Scope

# Scrapes and health probes arrive every few seconds and would bury the shop's traces: they get
# no span, and the queries a readiness probe makes get none either.
UNTRACED_PATHS = frozenset({"/metrics", "/health/live", "/health/ready"})


class _AsgiHeaderGetter(Getter[Scope]):
    """Reads propagation headers (traceparent, tracestate, baggage) straight from the ASGI scope."""

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier.get("headers", ()) if k == name]
        return values or None

    def keys(self, carrier: Scope) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier.get("headers", ())]


_HEADERS = _AsgiHeaderGetter()


def _first(scope: Scope, header: str) -> str | None:
    values = _HEADERS.get(scope, header)
    return values[0] if values else None


def _request_attributes(scope: Scope) -> dict[str, str | int]:
    """The rest of the HTTP server span's attributes, built only for a span that records."""
    attributes: dict[str, str | int] = {
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    if query := scope.get("query_string"):
        attributes["url.query"] = query.decode("latin-1")
    if host := _first(scope, "host"):
        with contextlib.suppress(ValueError):  # a malformed Host is the client's problem
            authority = urlsplit(f"//{host}")
            if authority.hostname:
                attributes["server.address"] = authority.hostname
            if authority.port is not None:
                attributes["server.port"] = authority.port
    if client := scope.get("client"):
        attributes["client.address"] = client[0]
    if user_agent := _first(scope, "user-agent"):
        attributes["user_agent.original"] = user_agent
    return attributes


class ServerSpan:
    """One request's server span, current from `start` until `finish`."""

    __slots__ = ("_suppressed", "_token", "span")

    def __init__(self, span: Span, token: object, suppress: bool) -> None:
        self.span = span
        self._token = token
        # OpenTelemetry's standard switch, which every instrumentation checks first.
        self._suppressed: AbstractContextManager[None] | None = None
        if suppress:
            self._suppressed = suppress_instrumentation()
            self._suppressed.__enter__()

    @classmethod
    def start(cls, scope: Scope, tracer: Tracer) -> ServerSpan:
        """For the untraced paths: no span, and instrumentation suppressed."""
        if scope["path"] in UNTRACED_PATHS:
            return cls(trace.INVALID_SPAN, None, suppress=True)
        parent = propagate.extract(scope, getter=_HEADERS)
        method = scope["method"]
        # What a sampler may look at is given at creation (the semantic conventions' list).
        span = tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        recording = span.is_recording()
        if recording:
            span.set_attributes(_request_attributes(scope))
        return cls(span, token, suppress=not recording)

    def finish(self, method: str, route: str | None, status: int) -> None:
        """Name and complete the span (if it records), end it and make it no longer current."""
        span = self.span
        if span.is_recording():
            if route:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_attribute("error.type", str(status))
                span.set_status(StatusCode.ERROR)
            span.end()
        if self._suppressed is not None:
            self._suppressed.__exit__(None, None, None)
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
