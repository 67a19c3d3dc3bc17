"""OpenTelemetry traces and logs, exported over OTLP/HTTP, configured by the standard OTEL_*
variables.

Export must never hurt the shop: spans and log records go through bounded batch queues to a
background thread; each export gives up after `otlp_export_timeout_seconds`; when the collector
is unreachable the API logs one clear warning (and one when it recovers), not one per batch, and
drops what does not fit in the queue.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.tortoiseorm import TortoiseORMInstrumentor
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

from faultline import __version__
from faultline.config import Settings
from faultline.telemetry.otlp_encoding import DirectOtlpLogExporter, DirectOtlpSpanExporter

log = structlog.get_logger(__name__)

# Loggers of the SDK and exporters that would otherwise log once per failed batch or dropped span.
_NOISY_LOGGERS = ("opentelemetry.exporter", "opentelemetry.sdk._shared_internal")


class ExportHealth:
    """Logs when an OTLP signal starts failing to export, and when it recovers; once each."""

    def __init__(self, signal: str) -> None:
        self.signal = signal
        self._failing = False
        self._lock = threading.Lock()
        self.failures = 0

    def record(self, ok: bool) -> None:
        with self._lock:
            if ok and self._failing:
                self._failing = False
                log.info(
                    "telemetry.export_recovered", signal=self.signal, failed_batches=self.failures
                )
            elif not ok:
                self.failures += 1
                if not self._failing:
                    self._failing = True
                    log.warning(
                        "telemetry.export_failing",
                        signal=self.signal,
                        endpoint=os.environ.get(
                            "OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"
                        ),
                        detail="collector unreachable; data is dropped until it is back",
                    )


class GuardedSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.health = ExportHealth("traces")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.health.record(result is SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class GuardedLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter) -> None:
        self.inner = inner
        self.health = ExportHealth("logs")

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = self.inner.export(batch)
        self.health.record(result is LogRecordExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _env_int(name: str, default: int) -> int:
    """A standard OTEL_* batch setting when set, else Faultline's default (snappier than the
    SDK's 5 s delay, so a demo's traces show up within a second or two)."""
    raw = os.environ.get(name, "")
    return int(raw) if raw.isdigit() else default


def build_resource(settings: Settings) -> Resource:
    """Faultline's defaults, overridden by OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME."""
    defaults = Resource(
        {
            "service.name": settings.service_name,
            "service.namespace": "faultline",
            "service.version": __version__,
            "deployment.environment.name": settings.environment,
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
        }
    )
    from_env: dict[str, Any] = dict(OTELResourceDetector().detect().attributes)
    if service_name := os.environ.get("OTEL_SERVICE_NAME"):
        from_env["service.name"] = service_name
    return defaults.merge(Resource(from_env))


def build_sampler(settings: Settings) -> Sampler | None:
    """Parent-based trace-id ratio by default; OTEL_TRACES_SAMPLER, when set, wins (None lets the
    SDK read it)."""
    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None
    return ParentBased(TraceIdRatioBased(settings.otel_traces_sampler_arg))


@dataclass
class Telemetry:
    tracer_provider: TracerProvider | None = None
    logger_provider: LoggerProvider | None = None
    span_exporter: GuardedSpanExporter | None = None
    log_exporter: GuardedLogExporter | None = None

    def shutdown(self) -> None:
        """Flush what is queued (bounded by the export timeout) and stop the export threads."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()


_process_telemetry: Telemetry | None = None


def start_telemetry(settings: Settings) -> Telemetry:
    """Set up traces and OTLP logs for this process (once; later calls get the same providers,
    since OpenTelemetry's global providers cannot be replaced)."""
    global _process_telemetry
    if settings.otel_sdk_disabled:
        return Telemetry()
    if _process_telemetry is not None:
        return _process_telemetry
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)

    resource = build_resource(settings)
    timeout = settings.otlp_export_timeout_seconds
    # The standard OTLP/HTTP exporters, encoding batches in a quarter of the time (see
    # otlp_encoding.py): the export threads hold the GIL that much less, and never for more
    # than a slice of a batch at a time.
    pause = settings.otlp_export_slice_pause_seconds
    span_exporter = GuardedSpanExporter(
        DirectOtlpSpanExporter(timeout=timeout, slice_pause_seconds=pause)
    )
    tracer_provider = TracerProvider(resource=resource, sampler=build_sampler(settings))
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            span_exporter,
            max_queue_size=_env_int("OTEL_BSP_MAX_QUEUE_SIZE", 4096),
            max_export_batch_size=_env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
            schedule_delay_millis=_env_int("OTEL_BSP_SCHEDULE_DELAY", 1000),
            export_timeout_millis=int(timeout * 1000),
        )
    )
    trace.set_tracer_provider(tracer_provider)
    # One span per query (Tortoise's own instrumentation; the asyncpg one would double them and
    # add a span for every connection release) and one per Redis call.
    TortoiseORMInstrumentor().instrument(tracer_provider=tracer_provider)
    RedisInstrumentor().instrument(tracer_provider=tracer_provider)

    telemetry = Telemetry(tracer_provider=tracer_provider, span_exporter=span_exporter)
    if settings.otel_logs_enabled:
        log_exporter = GuardedLogExporter(
            DirectOtlpLogExporter(timeout=timeout, slice_pause_seconds=pause)
        )
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(
                log_exporter,
                max_queue_size=_env_int("OTEL_BLRP_MAX_QUEUE_SIZE", 4096),
                schedule_delay_millis=_env_int("OTEL_BLRP_SCHEDULE_DELAY", 1000),
                export_timeout_millis=int(timeout * 1000),
            )
        )
        set_logger_provider(logger_provider)
        telemetry.logger_provider = logger_provider
        telemetry.log_exporter = log_exporter
    _process_telemetry = telemetry
    return telemetry
