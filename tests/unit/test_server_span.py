"""The server span: what it records, how it continues a caller's trace, and that a request the
sampler dropped runs with instrumentation suppressed (what keeps it cheap).

Real SDK pieces (TracerProvider, samplers, the SDK's in-memory exporter) and the real
`is_instrumentation_enabled()` that the Redis and Tortoise instrumentations call first.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import Scope

from faultline.telemetry.server_span import ServerSpan
from faultline.telemetry.spans import operation_span

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
ROUTE = "/api/v1/products/{product_id}"


def scope(path: str = "/api/v1/products/7", headers: dict[str, str] | None = None) -> Scope:
    raw = {"host": "shop:8000", "user-agent": "wrk", **(headers or {})}
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "scheme": "http",
        "http_version": "1.1",
        "query_string": b"a=1",
        "client": ("10.0.0.9", 51000),
        "headers": [(k.encode(), v.encode()) for k, v in raw.items()],
    }


def serve(ratio: float, request: Scope, status: int = 200) -> tuple[bool, bool, list[ReadableSpan]]:
    """One request through a server span under a parent-based ratio sampler: whether the span
    recorded and whether instrumentation was enabled while it was current; the spans exported."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server_span = ServerSpan.start(request, provider.get_tracer("test"))
    recording = trace.get_current_span().is_recording()
    instrumented = is_instrumentation_enabled()
    server_span.finish(request["method"], ROUTE, status)
    assert is_instrumentation_enabled(), "the request's context did not outlive it"
    assert not trace.get_current_span().get_span_context().is_valid
    return recording, instrumented, list(exporter.get_finished_spans())


def test_a_sampled_request_records_a_server_span_with_http_attributes() -> None:
    recording, instrumented, spans = serve(1.0, scope())
    assert recording and instrumented
    [span] = spans
    assert span.name == f"GET {ROUTE}" and span.kind is SpanKind.SERVER
    assert span.parent is None
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.path": "/api/v1/products/7",
        "url.scheme": "http",
        "url.query": "a=1",
        "network.protocol.version": "1.1",
        "server.address": "shop",
        "server.port": 8000,
        "client.address": "10.0.0.9",
        "user_agent.original": "wrk",
        "http.route": ROUTE,
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET


def test_a_server_error_marks_the_span() -> None:
    _, _, [span] = serve(1.0, scope(), status=503)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "503"


def test_an_unsampled_request_suppresses_instrumentation_and_exports_nothing() -> None:
    recording, instrumented, spans = serve(0.0, scope())
    assert not recording
    assert not instrumented, "Redis and Tortoise spans would be made, then dropped"
    assert spans == []


def test_a_callers_sampled_trace_is_continued_even_at_ratio_zero() -> None:
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    recording, instrumented, [span] = serve(0.0, scope(headers={"traceparent": traceparent}))
    assert recording and instrumented
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert span.parent is not None and format(span.parent.span_id, "016x") == CALLER_SPAN


def test_a_callers_unsampled_trace_stays_unsampled_at_ratio_one() -> None:
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"
    recording, instrumented, spans = serve(1.0, scope(headers={"traceparent": traceparent}))
    assert (recording, instrumented, spans) == (False, False, [])


def test_probes_and_scrapes_get_no_span_and_no_instrumentation() -> None:
    for path in ("/metrics", "/health/live", "/health/ready"):
        recording, instrumented, spans = serve(1.0, scope(path))
        assert (recording, instrumented, spans) == (False, False, []), path


def test_a_malformed_host_header_costs_only_its_attributes() -> None:
    _, _, [span] = serve(1.0, scope(headers={"host": "shop:notaport"}))
    assert span.attributes is not None
    assert "server.port" not in span.attributes
    assert span.attributes["http.response.status_code"] == 200


def test_operation_spans_are_children_of_a_recorded_request_and_free_otherwise() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(1.0)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("request") as request,
        operation_span(tracer, "load product") as span,
    ):
        assert span is not request and span.is_recording()
    unsampled = trace.NonRecordingSpan(request.get_span_context())
    with trace.use_span(unsampled), operation_span(tracer, "load product") as span:
        assert span is unsampled  # no span made: the request's own, which records nothing
    assert [s.name for s in exporter.get_finished_spans()] == ["load product", "request"]
    [child, parent] = exporter.get_finished_spans()
    assert child.parent is not None and child.parent.span_id == parent.context.span_id
