"""Which log lines go over OTLP: every warning and error; info lines only inside a sampled trace.

Real SDK pieces throughout (LoggerProvider, TracerProvider, the SDK's in-memory exporter); only
the OTLP transport is left out, as nothing here needs a receiver.
"""

from __future__ import annotations

from typing import Any

import structlog
from opentelemetry.instrumentation.structlog import StructlogProcessor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler

from faultline.telemetry.logs import SampledOtlpExport, add_trace_context


def exported_events(sampler: Sampler, method: str) -> tuple[list[Any], dict[str, Any]]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    export = SampledOtlpExport(StructlogProcessor(logger_provider=provider))  # type: ignore[no-untyped-call]
    tracer = TracerProvider(sampler=sampler).get_tracer("test")
    with tracer.start_as_current_span("request"):
        event: dict[str, Any] = {"event": "request", "level": method, "timestamp": None}
        add_trace_context(None, method, event)
        export(structlog.get_logger(), method, event)
    return [r.log_record.body for r in exporter.get_finished_logs()], event


def test_info_of_a_sampled_request_is_exported_with_its_trace_ids() -> None:
    bodies, line = exported_events(ALWAYS_ON, "info")
    assert bodies == ["request"]
    assert len(line["trace_id"]) == 32 and len(line["span_id"]) == 16


def test_info_of_an_unsampled_request_stays_on_stdout_without_trace_ids() -> None:
    bodies, line = exported_events(ALWAYS_OFF, "info")
    assert bodies == []
    assert "trace_id" not in line


def test_warnings_and_errors_are_exported_whether_or_not_sampled() -> None:
    for method in ("warning", "error"):
        bodies, _ = exported_events(ALWAYS_OFF, method)
        assert bodies == ["request"], method
