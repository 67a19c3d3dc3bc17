"""`encode_span_batch` and `encode_log_batch` write the bytes the OTLP library's encoders write,
for every kind of span and log record.

The oracle is the library itself (`encode_spans(...).SerializePartialToString()` and
`encode_logs(...).SerializeToString()`, what the OTLP exporters send) and the official message
classes decode both. Spans and records are the SDK's own (a real TracerProvider and
LoggerProvider; log records made by the structlog processor the API uses), or built directly
where a test needs values the SDK's validation would not let through. The export tests send to
the OTLP stand-in receiver (labkit/otlp_sink.py; the collector cannot run here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.structlog import StructlogProcessor
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from faultline.telemetry import otlp_encoding
from faultline.telemetry.otlp_encoding import (
    DirectOtlpLogExporter,
    DirectOtlpSpanExporter,
    UnencodableValue,
    encode_log_batch,
    encode_span_batch,
)
from labkit.otlp_sink import OtlpSink

RESOURCE = Resource({"service.name": "shop-api", "service.version": "0.1.0", "pid": 4242})


def library_bytes(spans: Sequence[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializePartialToString()


def assert_same_as_library(spans: Sequence[ReadableSpan]) -> None:
    ours, theirs = encode_span_batch(spans), library_bytes(spans)
    # Decoded first: a difference then reads as fields, not as bytes.
    decoded = ExportTraceServiceRequest.FromString(ours)
    assert decoded == ExportTraceServiceRequest.FromString(theirs)
    assert ours == theirs


def recorded_spans(limits: SpanLimits | None = None) -> list[ReadableSpan]:
    """A request's worth of spans from the real SDK: server, internal and client kinds, nested,
    an event, a link, an error status, a remote parent, a trace state."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE, span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    http = provider.get_tracer("faultline.http", "0.1.0")
    services = provider.get_tracer("faultline.services", schema_url="https://opentelemetry.io/s")
    remote_parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "v1"), ("other", "x")]),
    )
    parent = set_span_in_context(NonRecordingSpan(remote_parent))
    attributes = {
        "http.request.method": "GET",
        "http.route": "/api/v1/products/{product_id}",
        "url.path": "/api/v1/products/12",
        "server.port": 8000,
        "http.response.status_code": 200,
    }
    with http.start_as_current_span(
        "GET /api/v1/products/{product_id}", context=parent, kind=SpanKind.SERVER
    ) as server:
        server.set_attributes(attributes)
        with services.start_as_current_span(
            "load product", links=[Link(remote_parent, {"link.reason": "retry"})]
        ) as operation:
            operation.set_attribute("product.id", 12)
            operation.add_event("pool.wait", {"wait_seconds": 0.125, "pool_name": "default"})
            with http.start_as_current_span("SELECT shop.product", kind=SpanKind.CLIENT) as query:
                query.set_attributes({"db.system": "postgresql", "db.statement": "SELECT ... $1"})
                query.set_status(Status(StatusCode.ERROR, "canceling statement due to timeout"))
        for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER):
            with http.start_as_current_span(kind.name.lower(), kind=kind):
                pass
    return list(memory.get_finished_spans())


def test_a_request_s_spans_encode_as_the_library_does() -> None:
    spans = recorded_spans()
    assert len(spans) == 5
    assert_same_as_library(spans)
    # ... and twice in a row (the second time from the cache of attribute pairs).
    assert_same_as_library(spans)


def test_dropped_attributes_events_and_links_are_counted_as_the_library_does() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=RESOURCE,
        span_limits=SpanLimits(max_span_attributes=1, max_events=1, max_links=1),
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    context = SpanContext(1, 2, is_remote=False)
    with provider.get_tracer("t").start_as_current_span(
        "limited", links=[Link(context), Link(context)], attributes={"a": 1, "b": 2, "c": 3}
    ) as span:
        span.add_event("one")
        span.add_event("two")
    spans = memory.get_finished_spans()
    assert spans[0].dropped_attributes == 2 and spans[0].dropped_events == 1
    assert spans[0].dropped_links == 1
    assert_same_as_library(spans)


def readable(
    attributes: Mapping[str, Any],
    *,
    resource: Resource = RESOURCE,
    scope: InstrumentationScope | None = None,
    name: str = "span",
) -> ReadableSpan:
    """A span as the exporter receives it, built directly: no SDK validation of values."""
    return ReadableSpan(
        name=name,
        context=SpanContext(0xABC, 0xDEF, is_remote=False),
        resource=resource,
        attributes=attributes,
        events=[Event("event", {"k": "v"}, timestamp=5)],
        instrumentation_scope=scope,
        start_time=1,
        end_time=2,
    )


scalar_values = (
    st.text()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True)
    | st.binary()
)
attribute_values = (
    scalar_values
    | st.none()
    | st.lists(scalar_values | st.none(), max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=8), scalar_values, max_size=3)
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=40), attribute_values, max_size=8), st.text(max_size=300))
def test_any_attribute_value_encodes_as_the_library_does(
    attributes: dict[str, Any], name: str
) -> None:
    # Text here includes every code point: keys and values beyond ASCII, names longer than a
    # one-byte length, empty strings (which proto3 leaves out, except inside AnyValue).
    spans = [readable(attributes, name=name)]
    try:
        theirs = library_bytes(spans)
    except UnicodeEncodeError:  # a lone surrogate: the library cannot encode it either
        with pytest.raises(UnicodeEncodeError):
            encode_span_batch(spans)
        return
    assert encode_span_batch(spans) == theirs


def test_spans_are_grouped_by_resource_then_scope_in_order_of_appearance() -> None:
    other = Resource({"service.name": "worker"}, schema_url="https://opentelemetry.io/r")
    a = InstrumentationScope("a", "1.0", "https://opentelemetry.io/a", {"scope.attr": True})
    b = InstrumentationScope("b")
    spans = [
        readable({"n": 1}, scope=a),
        readable({"n": 2}, scope=b, resource=other),
        readable({"n": 3}, scope=None),
        readable({"n": 4}, scope=a),
        readable({"n": 5}, scope=b, resource=other),
    ]
    assert_same_as_library(spans)
    request = ExportTraceServiceRequest.FromString(encode_span_batch(spans))
    assert [len(r.scope_spans) for r in request.resource_spans] == [2, 1]


def test_the_cache_of_attribute_pairs_stays_bounded_and_correct() -> None:
    spans = [readable({"url.path": f"/api/v1/products/{n}"}) for n in range(3 * 4096)]
    assert_same_as_library(spans)
    assert len(otlp_encoding._pair_cache) <= otlp_encoding._PAIR_CACHE_SIZE


def test_a_batch_encoded_in_paced_slices_is_the_same_request() -> None:
    """The exporters pause between slices of a batch (module docstring): after every
    SLICE_ITEMS items, never after the last, and the bytes are the library's all the same."""
    slice_items = otlp_encoding.SLICE_ITEMS
    calls: list[int] = []
    for count, pauses in ((1, 0), (slice_items, 0), (slice_items + 1, 1), (3 * slice_items, 2)):
        spans = [
            readable({"n": n}, scope=None if n % 3 else InstrumentationScope("a"))
            for n in range(count)
        ]
        calls.clear()
        paced = encode_span_batch(spans, lambda: calls.append(len(calls)))
        assert paced == library_bytes(spans)
        assert len(calls) == pauses, count
    records = structlog_records() * slice_items
    calls.clear()
    paced = encode_log_batch(records, lambda: calls.append(len(calls)))
    assert paced == encode_logs(records).SerializeToString()
    assert len(calls) == (len(records) - 1) // slice_items


def test_the_exporter_sleeps_between_slices_of_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of several slices, then a batch of one, through HTTP to the receiver: every
    span arrives, in order, and the exporter slept (time.sleep, which lets go of the GIL) once
    between each two slices; with the pause set to 0, never."""
    slept: list[float] = []
    monkeypatch.setattr(otlp_encoding.time, "sleep", slept.append)
    spans = [readable({"n": n}, name=f"span {n}") for n in range(2 * otlp_encoding.SLICE_ITEMS + 1)]
    with OtlpSink() as sink:
        exporter = DirectOtlpSpanExporter(
            endpoint=f"{sink.endpoint}/v1/traces", timeout=5, slice_pause_seconds=0.003
        )
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.export(spans[:1]) is SpanExportResult.SUCCESS
        received = [s.name for s in sink.spans()]
        exporter.shutdown()
    assert received == [s.name for s in spans] + ["span 0"]
    assert slept == [0.003, 0.003]

    slept.clear()  # OTLP_EXPORT_SLICE_PAUSE_SECONDS=0: a batch in one go
    with OtlpSink() as sink:
        exporter = DirectOtlpSpanExporter(
            endpoint=f"{sink.endpoint}/v1/traces", timeout=5, slice_pause_seconds=0
        )
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert len(list(sink.spans())) == len(spans)
    assert slept == []


def test_an_integer_beyond_int64_is_refused_not_written_wrong() -> None:
    with pytest.raises(UnencodableValue):
        encode_span_batch([readable({"huge": 2**64})])


def test_the_exporter_sends_what_the_library_would_and_falls_back_to_it() -> None:
    """Through HTTP to a receiver: a batch our encoder writes, and one it hands to the library
    (which drops the attribute it cannot encode and keeps the span)."""
    with OtlpSink() as sink:
        exporter = DirectOtlpSpanExporter(
            endpoint=f"{sink.endpoint}/v1/traces", timeout=5, slice_pause_seconds=0
        )
        assert exporter.export(recorded_spans()) is SpanExportResult.SUCCESS
        fallback = readable({"huge": 2**64, "kept": "yes"}, name="fallback")
        assert exporter.export([fallback]) is SpanExportResult.SUCCESS
        received = {s.name: s for s in sink.spans()}
        exporter.shutdown()
        assert exporter.export([fallback]) is SpanExportResult.FAILURE
    server = received["GET /api/v1/products/{product_id}"]
    assert received["load product"].parent_span_id == server.span_id
    assert server.parent_span_id == "b7ad6b7169203331"
    assert server.resource["service.name"] == "shop-api"
    assert received["SELECT shop.product"].status_code == StatusCode.ERROR.value
    assert received["fallback"].attributes == {"kept": "yes"}


def structlog_records() -> list[ReadableLogRecord]:
    """Log records as the API makes them: structlog event dicts through OpenTelemetry's structlog
    processor, inside a sampled span and outside any, at several levels."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    to_otlp = StructlogProcessor(logger_provider=provider)  # type: ignore[no-untyped-call]
    tracer = TracerProvider(resource=RESOURCE).get_tracer("faultline.http")
    request = {
        "event": "request",
        "method": "GET",
        "route": "/api/v1/products/{product_id}",
        "status": 200,
        "duration_ms": 3.25,
        "faults": ["latency", "errors"],
        "cached": True,
        "timestamp": "2026-11-23T10:00:00Z",
    }
    with tracer.start_as_current_span("GET /api/v1/products/{product_id}"):
        to_otlp(None, "info", dict(request, level="info"))
        to_otlp(None, "warning", dict(request, level="warning", status=503))
    to_otlp(None, "error", {"event": "telemetry.export_failing", "level": "error"})
    return list(memory.get_finished_logs())


def test_the_api_s_log_records_encode_as_the_library_does() -> None:
    records = structlog_records()
    assert len(records) == 3
    assert records[0].log_record.trace_id and not records[2].log_record.trace_id
    ours, theirs = encode_log_batch(records), encode_logs(records).SerializeToString()
    assert ExportLogsServiceRequest.FromString(ours) == ExportLogsServiceRequest.FromString(theirs)
    assert ours == theirs


def readable_record(body: Any, attributes: Mapping[str, Any]) -> ReadableLogRecord:
    record = LogRecord(
        timestamp=10,
        observed_timestamp=11,
        severity_text="WARN",
        severity_number=SeverityNumber.WARN,
        body=body,
        attributes=attributes,
        event_name="faultline.event",
    )
    return ReadableLogRecord(log_record=record, resource=RESOURCE)


@settings(max_examples=200, deadline=None)
@given(attribute_values, st.dictionaries(st.text(max_size=20), attribute_values, max_size=6))
def test_any_log_body_and_attributes_encode_as_the_library_does(
    body: Any, attributes: dict[str, Any]
) -> None:
    records = [readable_record(body, attributes)]
    try:
        theirs = encode_logs(records).SerializeToString()
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            encode_log_batch(records)
        return
    assert encode_log_batch(records) == theirs


def test_the_log_exporter_sends_what_the_library_would_and_falls_back_to_it() -> None:
    with OtlpSink() as sink:
        exporter = DirectOtlpLogExporter(
            endpoint=f"{sink.endpoint}/v1/logs", timeout=5, slice_pause_seconds=0
        )
        assert exporter.export(structlog_records()) is LogRecordExportResult.SUCCESS
        fallback = readable_record("fallback", {"huge": 2**64, "kept": "yes"})
        assert exporter.export([fallback]) is LogRecordExportResult.SUCCESS
        logs = sink.received.snapshot()[1]
        exporter.shutdown()
        assert exporter.export([fallback]) is LogRecordExportResult.FAILURE
    bodies = [record.body for record in logs]
    assert bodies == ["request", "request", "telemetry.export_failing", "fallback"]
    assert len(logs[0].trace_id) == 32 and logs[0].trace_id != "0" * 32
    assert logs[0].resource["service.name"] == "shop-api"
    assert logs[3].attributes == {"kept": "yes"}
