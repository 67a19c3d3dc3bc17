"""OpenTelemetry traces and logs, set up the standard way: opentelemetry-distro's `initialize()`.

The same call the `opentelemetry-instrument` launcher makes: the distro's configurator builds the
tracer and logger providers from the standard OTEL_* variables (exporter per signal, including
`none`; protocol, endpoint, headers, timeout and compression per signal; batch processor settings;
sampler and its argument; resource attributes and service name), and every installed
instrumentation (Tortoise, Redis) is applied unless OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names
it. The API only sets defaults, below, for variables you leave unset; a variable you set wins.
What the lab adds plugs in through public extension points: the `faultline_otlp` exporter
(faultline.telemetry.export: the standard OTLP exporter, one warning per outage) and the sampled
log export in structlog's processor chain (faultline.telemetry.logs).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.instrumentation.auto_instrumentation import initialize
from opentelemetry.sdk.trace import TracerProvider

from faultline import __version__
from faultline.config import Settings
from faultline.replica import replica_name

# The API's defaults, each for a variable left unset (a variable you set wins).
DEFAULTS = {
    # The standard OTLP exporter plus one warning per collector outage (faultline.telemetry.export).
    "OTEL_TRACES_EXPORTER": "faultline_otlp",
    "OTEL_LOGS_EXPORTER": "faultline_otlp",
    # Metrics are Prometheus's: /metrics, scraped, with exemplars (faultline.telemetry.metrics).
    "OTEL_METRICS_EXPORTER": "none",
    # The distro defaults to gRPC; the API ships the OTLP/HTTP exporter (the collector takes both).
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    # Seconds: the Python exporters read this variable in seconds (the specification says ms).
    "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
    # One request in ten, and whatever the caller decided for the rest: tracing every request
    # costs most of the API's capacity (`make bench`, full-all-traced). The lab's .env sets 1.
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.1",
    # A batch a second (the SDK waits 5 s), so a demo's traces and logs show up at once.
    "OTEL_BSP_SCHEDULE_DELAY": "1000",
    "OTEL_BLRP_SCHEDULE_DELAY": "1000",
    # The structlog instrumentation would export every log line; the API exports them sampled
    # itself (faultline.telemetry.logs), and uses the instrumentation's processor to do it.
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "structlog",
}
# Loggers of the SDK and exporters that log once per failed batch or dropped span: the
# faultline_otlp exporter says it once per outage instead.
NOISY_LOGGERS = ("opentelemetry.exporter", "opentelemetry.sdk._shared_internal")


def apply_defaults(settings: Settings, environ: MutableMapping[str, str] = os.environ) -> None:
    """Fill in DEFAULTS, the service name and Faultline's resource attributes where unset.
    OTEL_RESOURCE_ATTRIBUTES keeps its own values: the API's are put before them, and the later
    of two values for one key wins."""
    for name, value in DEFAULTS.items():
        environ.setdefault(name, value)
    environ.setdefault("OTEL_SERVICE_NAME", settings.service_name)
    ours = {
        "service.namespace": "faultline",
        "service.version": __version__,
        "deployment.environment.name": settings.environment,
        # api-2, as Prometheus names the replica's target (faultline.replica), so a trace or a
        # log line says which replica served it; else unique per process.
        "service.instance.id": replica_name(settings) or f"{socket.gethostname()}:{os.getpid()}",
    }
    given = environ.get("OTEL_RESOURCE_ATTRIBUTES", "").strip().strip(",")
    environ["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(
        [f"{key}={value}" for key, value in ours.items()] + ([given] if given else [])
    )


def logs_exported(environ: MutableMapping[str, str] = os.environ) -> bool:
    names = {name.strip() for name in environ.get("OTEL_LOGS_EXPORTER", "").split(",")}
    return bool(names - {"", "none"})


@dataclass
class Telemetry:
    tracer_provider: TracerProvider | None = None
    logs_exported: bool = False

    def flush(self) -> None:
        """Export what is queued now (bounded by the export timeout): the end of the lifespan,
        since a process that uvicorn ends by re-raising SIGTERM runs no atexit handlers."""
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush()


_process_telemetry: Telemetry | None = None


def start_telemetry(settings: Settings) -> Telemetry:
    """Set up traces and OTLP logs for this process, once (OpenTelemetry's global providers
    cannot be replaced; later calls get the same). Started under `opentelemetry-instrument`,
    the launcher has done it already and this only looks."""
    global _process_telemetry
    if settings.otel_sdk_disabled:
        return Telemetry()
    if _process_telemetry is None:
        if not isinstance(trace.get_tracer_provider(), TracerProvider):
            apply_defaults(settings)
            for name in NOISY_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL)
            initialize(swallow_exceptions=False)
        provider = trace.get_tracer_provider()
        _process_telemetry = Telemetry(
            tracer_provider=provider if isinstance(provider, TracerProvider) else None,
            logs_exported=logs_exported(),
        )
    return _process_telemetry
