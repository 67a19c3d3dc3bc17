"""With the collector down, a failed export must not keep its batch alive until a garbage
collection (faultline.telemetry.otlp_transport says what that cost). Real exporters, real
connections refused by a port nothing listens on, the SDK's own batch processor thread."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from faultline.telemetry.otlp_encoding import DirectOtlpSpanExporter
from faultline.telemetry.otlp_transport import TracebackFreeTransport, drop_tracebacks
from labkit.net import free_port


@pytest.fixture
def cyclic_garbage() -> Iterator[list[object]]:
    """gc.garbage as the collector would have found it: collections off during the test, and
    everything unreachable kept for inspection (DEBUG_SAVEALL)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def export_to_nowhere(exporter: DirectOtlpSpanExporter, spans: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("test")
    for index in range(spans):
        with tracer.start_as_current_span("work") as span:
            span.set_attribute("index", index)
    provider.force_flush()
    provider.shutdown()


def unreachable_spans(garbage: list[object]) -> int:
    gc.collect()
    return sum(type(item).__name__ == "ReadableSpan" for item in garbage)


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}/v1/traces"


def test_a_failed_export_frees_its_batch_without_a_garbage_collection(
    cyclic_garbage: list[object],
) -> None:
    exporter = DirectOtlpSpanExporter(endpoint=nowhere(), timeout=0.5, slice_pause_seconds=0)
    assert isinstance(exporter._client._transport, TracebackFreeTransport)
    export_to_nowhere(exporter, spans=200)
    assert unreachable_spans(cyclic_garbage) == 0


def test_the_library_transport_alone_would_keep_the_batch_in_a_cycle(
    cyclic_garbage: list[object],
) -> None:
    """The same export with the library's transport: what the test above guards against."""
    exporter = DirectOtlpSpanExporter(endpoint=nowhere(), timeout=0.5, slice_pause_seconds=0)
    exporter._client._transport = exporter._client._transport.inner
    export_to_nowhere(exporter, spans=200)
    assert unreachable_spans(cyclic_garbage) == 200


def test_every_chained_error_loses_its_traceback_and_keeps_its_message() -> None:
    def fail() -> None:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as refused:
            carried = ValueError("wrapped", refused)
            raise RuntimeError("export failed") from carried

    with pytest.raises(RuntimeError) as caught:
        fail()
    error = caught.value
    assert error.__traceback__ is not None
    drop_tracebacks(error)
    carried = error.__cause__
    assert isinstance(carried, ValueError)
    refused = carried.args[1]
    for each in (error, carried, refused):
        assert each.__traceback__ is None
    assert str(error) == "export failed"
    assert isinstance(refused, ConnectionRefusedError)
