"""OTLP export batches (spans, log records) encoded straight to protobuf bytes.

The OTLP exporters' own encoders (`opentelemetry.exporter.otlp.proto.common`: `encode_spans`,
`encode_logs`) build a tree of protobuf message objects from Python, a dozen per span, and hash
the resource (a JSON dump of its attributes) once per item: about 50 us per span and 38-45 us
per log record here. The export threads do that holding the GIL, a few hundred items each
second, while the event loop waits for it. `encode_span_batch` and `encode_log_batch` write the
same bytes directly, reusing the encoding of attribute pairs seen before (method, route,
db.system, ... repeat): 13 us per span, 11-14 us per log record (the access log's unique values,
request id and duration, are cached in vain, but the cache still pays: 13.6 against 15.3 us).

They write the OTLP protocol's `ExportTraceServiceRequest` and `ExportLogsServiceRequest`
(opentelemetry-proto v1, a stable schema) field for field as the library does: the same fields,
values and order. tests/unit/test_otlp_encoding.py holds them to it: the library's encoder is the
oracle, bytes compared, and both decoded with the official message classes; a property test
covers every attribute value type. A value they cannot encode (one OpenTelemetry does not allow,
an int beyond int64, a lone surrogate) sends the whole batch down the library's own export path,
which drops that one attribute and logs it, as it always has.

The exporters also pace themselves: they encode a batch in slices of `SLICE_ITEMS` and sleep
between slices (OTLP_EXPORT_SLICE_PAUSE_SECONDS, 3 ms by default; 0 turns it off), so the
export thread never holds the GIL for more than a slice (~1 ms) at a time. Unpaced, each
second's batch (~300 spans at 1,000 req/s, 5-7 ms of CPU in the server) held it in stretches of
up to the 5 ms switch interval while requests queued on the event loop. Measured at 1,000 req/s
(2026-11-23, a 1 ms loop-lag probe): loop stalls over 4 ms went from 16-32 per 10 s with
nothing sampled to 45-51 with one request in ten traced, 24 of them inside an export though
exports took 2.5% of the time; p99 median 19.1 ms unpaced against 13.7 ms paced (bare 7.5) in
one `bench/telemetry_cost.py` run. A pause costs no CPU; it caps an exporter at ~16,000 items per
second, far above what one API process produces, and adds ~20 ms per 512-item batch to the
final flush at shutdown.

Field numbers: opentelemetry/proto/{trace,logs,common,resource}/v1/*.proto. Wire format:
https://protobuf.dev/programming-guides/encoding/.
"""

from __future__ import annotations

import functools
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

from faultline.telemetry.otlp_transport import TracebackFreeTransport

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack

# Field keys (field number << 3 | wire type) of the messages written here.
_LEN, _VARINT, _I64, _I32 = 2, 0, 1, 5


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _varint(value: int) -> bytes:
    if value < 0:  # int64 values are written as their 64-bit two's complement
        value += 1 << 64
    if value < 0x80:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_VARINTS = [bytes([n]) for n in range(0x80)]


def _length_delimited(key: bytes, payload: bytes) -> bytes:
    return b"".join((key, _varint(len(payload)), payload))


class _AnyValue:
    """common.v1.AnyValue: exactly one of these fields is set (a oneof: written even when 0/"")."""

    STRING = _key(1, _LEN)
    BOOL = _key(2, _VARINT)
    INT = _key(3, _VARINT)
    DOUBLE = _key(4, _I64)
    ARRAY = _key(5, _LEN)
    KVLIST = _key(6, _LEN)
    BYTES = _key(7, _LEN)


_KEY_VALUE_KEY = _key(1, _LEN)
_KEY_VALUE_VALUE = _key(2, _LEN)
_ARRAY_VALUES = _key(1, _LEN)  # ArrayValue.values and KeyValueList.values alike


class UnencodableValue(TypeError):
    """An attribute value OTLP has no representation for (type, or an int beyond int64)."""


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _any_value(value: Any) -> bytes:
    """The AnyValue message for an attribute value, as the library's `_encode_value` maps them."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return _AnyValue.BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _length_delimited(_AnyValue.STRING, value.encode())
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise UnencodableValue(f"integer attribute value out of int64 range: {value}")
        return _AnyValue.INT + _varint(value)
    if isinstance(value, float):
        return _AnyValue.DOUBLE + _pack_double(value)
    if isinstance(value, bytes):
        return _length_delimited(_AnyValue.BYTES, value)
    if isinstance(value, Sequence):
        items = b"".join(_length_delimited(_ARRAY_VALUES, _any_value(v)) for v in value)
        return _length_delimited(_AnyValue.ARRAY, items)
    if isinstance(value, Mapping):
        pairs = b"".join(
            _length_delimited(_ARRAY_VALUES, _key_value(str(k), v)) for k, v in value.items()
        )
        return _length_delimited(_AnyValue.KVLIST, pairs)
    raise UnencodableValue(f"attribute value of type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    return b"".join(
        (
            _string(_KEY_VALUE_KEY, key),
            _length_delimited(_KEY_VALUE_VALUE, _any_value(value)),
        )
    )


# Encoded attribute pairs, whole fields (key of the containing message's field included), by
# (field key, attribute key, value type, value): the type because True == 1 == 1.0. Scalars only.
# Cleared when full: values such as paths with ids in them would otherwise grow it without end.
_pair_cache: dict[tuple[bytes, str, type, Any], bytes] = {}
_PAIR_CACHE_SIZE = 4096
_SCALARS = (str, bool, int, float)


def _attributes(field_key: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
    if not attributes:
        return []
    fields = []
    cache = _pair_cache
    for key, value in attributes.items():
        cls = type(value)
        if cls in _SCALARS:
            cache_key = (field_key, key, cls, value)
            field = cache.get(cache_key)
            if field is None:
                if len(cache) >= _PAIR_CACHE_SIZE:
                    cache.clear()
                field = cache[cache_key] = _length_delimited(field_key, _key_value(key, value))
        else:
            field = _length_delimited(field_key, _key_value(key, value))
        fields.append(field)
    return fields


def _string(key: bytes, value: str | None) -> bytes:
    return _length_delimited(key, value.encode()) if value else b""


def _count(key: bytes, value: int | None) -> bytes:
    return key + _varint(value) if value else b""


class _Span:
    TRACE_ID = _key(1, _LEN) + b"\x10"  # always 16 bytes
    SPAN_ID = _key(2, _LEN) + b"\x08"  # always 8 bytes
    TRACE_STATE = _key(3, _LEN)
    PARENT_SPAN_ID = _key(4, _LEN) + b"\x08"
    NAME = _key(5, _LEN)
    KIND = _key(6, _VARINT)
    START = _key(7, _I64)
    END = _key(8, _I64)
    ATTRIBUTES = _key(9, _LEN)
    DROPPED_ATTRIBUTES = _key(10, _VARINT)
    EVENTS = _key(11, _LEN)
    DROPPED_EVENTS = _key(12, _VARINT)
    LINKS = _key(13, _LEN)
    DROPPED_LINKS = _key(14, _VARINT)
    STATUS = _key(15, _LEN)
    FLAGS = _key(16, _I32)


class _Event:
    TIME = _key(1, _I64)
    NAME = _key(2, _LEN)
    ATTRIBUTES = _key(3, _LEN)
    DROPPED_ATTRIBUTES = _key(4, _VARINT)


class _Link:
    TRACE_ID = _key(1, _LEN) + b"\x10"
    SPAN_ID = _key(2, _LEN) + b"\x08"
    TRACE_STATE = _key(3, _LEN)
    ATTRIBUTES = _key(4, _LEN)
    DROPPED_ATTRIBUTES = _key(5, _VARINT)
    FLAGS = _key(6, _I32)


_STATUS_MESSAGE = _key(2, _LEN)
_STATUS_CODE = _key(3, _VARINT)

# trace.v1.SpanFlags: the parent's "is remote" flag is known (always, here), and its value.
_FLAGS_HAS_IS_REMOTE = 0x100
_FLAGS_IS_REMOTE = 0x200


def _flags(parent: SpanContext | None) -> bytes:
    flags = _FLAGS_HAS_IS_REMOTE
    if parent is not None and parent.is_remote:
        flags |= _FLAGS_IS_REMOTE
    return _pack_fixed32(flags)


def _time(key: bytes, nanos: int | None) -> bytes:
    return key + _pack_fixed64(nanos) if nanos else b""


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    if context is None:  # never, for a span the SDK ended; typed as optional
        raise UnencodableValue("span without a span context")
    parent = span.parent
    parts = [
        _Span.TRACE_ID,
        context.trace_id.to_bytes(16, "big"),
        _Span.SPAN_ID,
        context.span_id.to_bytes(8, "big"),
    ]
    if context.trace_state:
        parts.append(_string(_Span.TRACE_STATE, _trace_state(context)))
    if parent is not None:
        parts += (_Span.PARENT_SPAN_ID, parent.span_id.to_bytes(8, "big"))
    parts += (
        _string(_Span.NAME, span.name),
        # SpanKind INTERNAL=0 .. CONSUMER=4; OTLP's enum starts at SPAN_KIND_INTERNAL=1.
        _Span.KIND + _SMALL_VARINTS[span.kind.value + 1],
        _time(_Span.START, span.start_time),
        _time(_Span.END, span.end_time),
    )
    parts += _attributes(_Span.ATTRIBUTES, span.attributes)
    parts.append(_count(_Span.DROPPED_ATTRIBUTES, span.dropped_attributes))
    for event in span.events:
        body = [
            _time(_Event.TIME, event.timestamp),
            _string(_Event.NAME, event.name),
            *_attributes(_Event.ATTRIBUTES, event.attributes),
            _count(_Event.DROPPED_ATTRIBUTES, event.dropped_attributes),
        ]
        parts.append(_length_delimited(_Span.EVENTS, b"".join(body)))
    parts.append(_count(_Span.DROPPED_EVENTS, span.dropped_events))
    for link in span.links:
        body = [
            _Link.TRACE_ID,
            link.context.trace_id.to_bytes(16, "big"),
            _Link.SPAN_ID,
            link.context.span_id.to_bytes(8, "big"),
            *_attributes(_Link.ATTRIBUTES, link.attributes),
            _count(_Link.DROPPED_ATTRIBUTES, link.dropped_attributes),
            _Link.FLAGS,
            _flags(link.context),
        ]
        parts.append(_length_delimited(_Span.LINKS, b"".join(body)))
    parts.append(_count(_Span.DROPPED_LINKS, span.dropped_links))
    status = span.status
    status_body = _string(_STATUS_MESSAGE, status.description) + _count(
        _STATUS_CODE, status.status_code.value
    )
    parts += (_length_delimited(_Span.STATUS, status_body), _Span.FLAGS, _flags(parent))
    return b"".join(parts)


def _trace_state(context: SpanContext) -> str:
    return ",".join(f"{key}={value}" for key, value in context.trace_state.items())


# The envelope, the same for both signals: ExportTraceServiceRequest / ExportLogsServiceRequest
# (1: ResourceSpans / ResourceLogs) > (1: Resource, 2: ScopeSpans / ScopeLogs, 3: schema_url) >
# (1: InstrumentationScope, 2: Span / LogRecord, 3: schema_url).
_REQUEST_RESOURCE = _key(1, _LEN)
_RESOURCE = _key(1, _LEN)
_RESOURCE_SCOPES = _key(2, _LEN)
_RESOURCE_SCHEMA_URL = _key(3, _LEN)
_RESOURCE_ATTRIBUTES = _key(1, _LEN)
_SCOPE = _key(1, _LEN)
_SCOPE_ITEMS = _key(2, _LEN)
_SCOPE_SCHEMA_URL = _key(3, _LEN)
_SCOPE_NAME = _key(1, _LEN)
_SCOPE_VERSION = _key(2, _LEN)
_SCOPE_ATTRIBUTES = _key(3, _LEN)


def _scope(scope: InstrumentationScope | None) -> bytes:
    if scope is None:
        return b""
    return b"".join(
        (
            _string(_SCOPE_NAME, scope.name),
            _string(_SCOPE_VERSION, scope.version),
            *_attributes(_SCOPE_ATTRIBUTES, scope.attributes),
        )
    )


class _Telemetry(Protocol):
    """What a span and a log record have in common: where they come from."""

    @property
    def resource(self) -> Resource: ...

    @property
    def instrumentation_scope(self) -> InstrumentationScope | None: ...


_T = TypeVar("_T", bound=_Telemetry)


SLICE_ITEMS = 64  # items encoded between two pauses: ~1 ms of CPU


def _export_request(
    items: Sequence[_T],
    encode: Callable[[_T], bytes],
    between_slices: Callable[[], object] | None = None,
) -> bytes:
    """The serialized export request for `items`, grouped by resource, then by instrumentation
    scope, in order of first appearance (as the library's encoders do). `between_slices`, when
    given, is called after every SLICE_ITEMS items (but not after the last)."""
    # Resources by identity (a provider's spans share one object; hashing one is a JSON dump).
    by_resource: dict[int, tuple[Resource, dict[InstrumentationScope | None, list[bytes]]]] = {}
    for index, item in enumerate(items):
        if between_slices is not None and index and not index % SLICE_ITEMS:
            between_slices()
        resource = item.resource
        entry = by_resource.get(id(resource))
        if entry is None:
            entry = by_resource[id(resource)] = (resource, {})
        entry[1].setdefault(item.instrumentation_scope or None, []).append(
            _length_delimited(_SCOPE_ITEMS, encode(item))
        )
    request = []
    for resource, by_scope in by_resource.values():
        scopes = []
        for scope, encoded_items in by_scope.items():
            body = [
                _length_delimited(_SCOPE, _scope(scope)),
                *encoded_items,
                _string(_SCOPE_SCHEMA_URL, scope.schema_url if scope else None),
            ]
            scopes.append(_length_delimited(_RESOURCE_SCOPES, b"".join(body)))
        resource_body = b"".join(_attributes(_RESOURCE_ATTRIBUTES, resource.attributes))
        body = [
            _length_delimited(_RESOURCE, resource_body),
            *scopes,
            _string(_RESOURCE_SCHEMA_URL, resource.schema_url),
        ]
        request.append(_length_delimited(_REQUEST_RESOURCE, b"".join(body)))
    return b"".join(request)


def encode_span_batch(
    spans: Sequence[ReadableSpan], between_slices: Callable[[], object] | None = None
) -> bytes:
    """A serialized `ExportTraceServiceRequest`. Raises `UnencodableValue` for an attribute
    value OTLP cannot carry. `between_slices`: see `_export_request`."""
    return _export_request(spans, _span, between_slices)


class _LogRecord:
    TIME = _key(1, _I64)
    SEVERITY_NUMBER = _key(2, _VARINT)
    SEVERITY_TEXT = _key(3, _LEN)
    BODY = _key(5, _LEN)
    ATTRIBUTES = _key(6, _LEN)
    DROPPED_ATTRIBUTES = _key(7, _VARINT)
    FLAGS = _key(8, _I32)
    TRACE_ID = _key(9, _LEN) + b"\x10"
    SPAN_ID = _key(10, _LEN) + b"\x08"
    OBSERVED_TIME = _key(11, _I64)
    EVENT_NAME = _key(12, _LEN)


def _log_record(readable: ReadableLogRecord) -> bytes:
    record = readable.log_record
    if record.trace_flags is None:  # the library cannot encode this either; let it say so
        raise UnencodableValue("log record without trace flags")
    flags = int(record.trace_flags)
    return b"".join(
        (
            _time(_LogRecord.TIME, record.timestamp),
            _count(_LogRecord.SEVERITY_NUMBER, getattr(record.severity_number, "value", None)),
            _string(_LogRecord.SEVERITY_TEXT, record.severity_text),
            _length_delimited(_LogRecord.BODY, _any_value(record.body)),
            *_attributes(_LogRecord.ATTRIBUTES, record.attributes),
            _count(_LogRecord.DROPPED_ATTRIBUTES, readable.dropped_attributes),
            _LogRecord.FLAGS + _pack_fixed32(flags) if flags else b"",
            _LogRecord.TRACE_ID + record.trace_id.to_bytes(16, "big") if record.trace_id else b"",
            _LogRecord.SPAN_ID + record.span_id.to_bytes(8, "big") if record.span_id else b"",
            _time(_LogRecord.OBSERVED_TIME, record.observed_timestamp),
            _string(_LogRecord.EVENT_NAME, record.event_name),
        )
    )


def encode_log_batch(
    records: Sequence[ReadableLogRecord], between_slices: Callable[[], object] | None = None
) -> bytes:
    """A serialized `ExportLogsServiceRequest`. Raises `UnencodableValue` for an attribute
    value OTLP cannot carry. `between_slices`: see `_export_request`."""
    return _export_request(records, _log_record, between_slices)


def _slice_pause(seconds: float) -> Callable[[], object] | None:
    """What runs between two slices of a batch: a sleep, off the GIL, so the event loop runs
    (module docstring); none for 0, the batch encoded in one go."""
    return functools.partial(time.sleep, seconds) if seconds > 0 else None


class DirectOtlpSpanExporter(OTLPSpanExporter):
    """The OTLP/HTTP span exporter (endpoint, headers, timeout, compression and transport all
    configured as usual, by OTEL_* variables), with batches encoded by `encode_span_batch`, in
    paced slices (module docstring; `slice_pause_seconds=0` turns the pauses off), and failed
    requests' tracebacks dropped (faultline.telemetry.otlp_transport says why).
    Left out of this path: the exporter's own metrics (off unless
    OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED) and its 64 MiB request-size check (a batch of 512
    spans is ~130 KiB)."""

    def __init__(self, *, slice_pause_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._between_slices = _slice_pause(slice_pause_seconds)
        self._client._transport = TracebackFreeTransport(self._client._transport)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            payload = encode_span_batch(spans, self._between_slices)
        except (UnencodableValue, ValueError):  # ValueError: e.g. a lone surrogate in a string
            return super().export(spans)  # the library's encoder: it drops what it cannot encode
        result = self._client.export(payload)
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE


class DirectOtlpLogExporter(OTLPLogExporter):
    """The OTLP/HTTP log exporter, configured as usual, with batches encoded by
    `encode_log_batch`, in paced slices, and failed requests' tracebacks dropped."""

    def __init__(self, *, slice_pause_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._between_slices = _slice_pause(slice_pause_seconds)
        self._client._transport = TracebackFreeTransport(self._client._transport)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self._shutdown:
            return LogRecordExportResult.FAILURE
        try:
            payload = encode_log_batch(batch, self._between_slices)
        except (UnencodableValue, ValueError):
            return super().export(batch)
        result = self._client.export(payload)
        return LogRecordExportResult.SUCCESS if result.success else LogRecordExportResult.FAILURE
