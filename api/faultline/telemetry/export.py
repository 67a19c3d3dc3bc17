"""The standard OTLP exporters, plus one warning per outage: the `faultline_otlp` exporter.

Registered under the SDK's exporter entry points (pyproject.toml: `opentelemetry_traces_exporter`
and `opentelemetry_logs_exporter`), so `OTEL_TRACES_EXPORTER=faultline_otlp` and
`OTEL_LOGS_EXPORTER=faultline_otlp` select it like any other exporter; `otlp` gives the plain one,
`none` nothing. It wraps the exporter the standard `otlp` name would give for the configured
protocol (OTEL_EXPORTER_OTLP[_TRACES|_LOGS]_PROTOCOL), found through the same public entry points,
so every OTEL_EXPORTER_OTLP_* variable (endpoint, headers, timeout, compression, ...) works as the
specification says. What it adds: when a signal starts failing to export, one warning
(`telemetry.export_failing`), and one when it recovers, instead of an error per batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any, Literal

import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from faultline.seams.opentelemetry import LogRecordExporter, LogRecordExportResult

log = structlog.get_logger(__name__)

Signal = Literal["traces", "logs"]
# The standard exporters' entry point names, by OTLP protocol (the SDK's own table).
EXPORTER_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}
DEFAULT_PROTOCOL = "http/protobuf"


def protocol(signal: Signal) -> str:
    return (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or DEFAULT_PROTOCOL
    ).strip()


def endpoint(signal: Signal) -> str:
    """Where the signal goes, as the specification resolves it (for the warning only)."""
    if specific := os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"):
        return specific
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
    return f"{base.rstrip('/')}/v1/{signal}" if protocol(signal) == DEFAULT_PROTOCOL else base


def standard_exporter(signal: Signal, **kwargs: Any) -> Any:
    """The exporter OTEL_{signal}_EXPORTER=otlp would give, loaded by its public entry point."""
    wanted = protocol(signal)
    name = EXPORTER_BY_PROTOCOL.get(wanted)
    if name is None:
        raise ValueError(f"unsupported OTLP protocol {wanted!r}: {', '.join(EXPORTER_BY_PROTOCOL)}")
    found = entry_points(group=f"opentelemetry_{signal}_exporter", name=name)
    if not found:
        raise RuntimeError(
            f"no {name} exporter installed for OTLP over {wanted} "
            f"(pip install opentelemetry-exporter-{name.replace('_', '-')})"
        )
    return next(iter(found)).load()(**kwargs)


class ExportHealth:
    """Logs when a signal starts failing to export, and when it recovers; once each."""

    def __init__(self, signal: Signal) -> None:
        self.signal = signal
        self.failing = False
        self.failures = 0
        self._lock = threading.Lock()

    def record(self, ok: bool) -> None:
        with self._lock:
            if ok and self.failing:
                self.failing = False
                log.info(
                    "telemetry.export_recovered", signal=self.signal, failed_batches=self.failures
                )
            elif not ok:
                self.failures += 1
                if not self.failing:
                    self.failing = True
                    log.warning(
                        "telemetry.export_failing",
                        signal=self.signal,
                        endpoint=endpoint(self.signal),
                        detail="collector unreachable; data is dropped until it is back",
                    )


class GuardedOtlpSpanExporter(SpanExporter):
    def __init__(self, **kwargs: Any) -> None:
        self.inner: SpanExporter = standard_exporter("traces", **kwargs)
        self.health = ExportHealth("traces")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.health.record(result is SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class GuardedOtlpLogExporter(LogRecordExporter):
    """The log records' counterpart (the logs SDK's interface comes through faultline.seams)."""

    def __init__(self, **kwargs: Any) -> None:
        self.inner: LogRecordExporter = standard_exporter("logs", **kwargs)
        self.health = ExportHealth("logs")

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        result = self.inner.export(batch)
        self.health.record(result is LogRecordExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
