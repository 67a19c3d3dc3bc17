"""structlog set-up: JSON lines in containers (a readable console on a terminal), every line
carrying `trace_id`/`span_id` when it belongs to a sampled trace, and the same records sent as
OpenTelemetry log records over OTLP (for Loki, via the collector) when OTLP logs are on
(OTEL_LOGS_EXPORTER). The standard library's loggers (uvicorn, asyncpg, Tortoise, httpx, the
OpenTelemetry SDK) go through the same chain (structlog's ProcessorFormatter): stdout is JSON
lines only, and their warnings and errors reach Loki with the rest.

What goes over OTLP follows the trace sampler, like exemplars do: every warning and error, and
the info lines (the access log, mostly) of sampled requests. So every trace in Tempo has its log
lines in Loki, every trace id on a log line opens a trace, and an unsampled request costs one
JSON line on stdout, not an OTLP record as well (a record per request cost ~12% of throughput in
`make bench`). stdout keeps every line.

JSON lines are written by `LineWriter`: warnings and errors at once, info and debug lines
gathered and written out by the event loop LOG_FLUSH_INTERVAL_SECONDS after the first of them
(0.1 s by default; 0 writes every line at once), before any warning, when 64 KiB have gathered,
and at the end of the lifespan and at exit. One write per line cost more than the rest of the
line here (see the class docstring).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import io
import logging
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, BinaryIO, cast

import orjson
import structlog
from opentelemetry import trace
from opentelemetry.instrumentation.structlog import StructlogInstrumentor, StructlogProcessor

from faultline.config import Settings


def add_trace_context(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    context = trace.get_current_span().get_span_context()
    if context.trace_flags.sampled:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


_ALWAYS_EXPORTED = frozenset({"warning", "error", "critical", "exception"})


class SampledOtlpExport:
    """Wraps the OTLP structlog processor: warnings and errors always, info and debug lines only
    inside a sampled trace (see the module docstring)."""

    def __init__(self, otlp: structlog.types.Processor) -> None:
        self.otlp = otlp

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if (
            method_name in _ALWAYS_EXPORTED
            or trace.get_current_span().get_span_context().trace_flags.sampled
        ):
            return cast(MutableMapping[str, Any], self.otlp(logger, method_name, event_dict))
        return event_dict


class LineWriter:
    """structlog's logger for rendered JSON lines (bytes), on a binary stream.

    With a flush interval, info and debug lines logged on an event loop are buffered, and a timer
    on that loop writes them out one interval after the first of them (one system call for all
    the lines of the interval, on the loop's own thread: no other thread competes for the GIL).
    Warnings and errors are written at once, after whatever was buffered before them, so the lines
    that matter in an incident are never held back and the order of lines is kept; so is a line
    logged outside an event loop. What a hard kill (SIGKILL, the OOM killer) can lose is at most
    one interval of info lines; the end of an app's lifespan (`flush_logs`) and a normal
    exit (atexit) write everything. OTLP log records are batched for a second anyway. Why a
    buffer at all (a line's system call, measured): docs/telemetry.md.
    """

    def __init__(self, stream: BinaryIO, flush_interval_seconds: float) -> None:
        self.stream = stream
        self.interval = flush_interval_seconds
        self._out = stream
        if flush_interval_seconds > 0:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                # Our own buffer straight over the file descriptor (stdout's binary layer is
                # unbuffered under PYTHONUNBUFFERED, and a test's capture may have no descriptor:
                # then every line is written at once).
                raw = io.FileIO(stream.fileno(), "wb", closefd=False)
                self._out = cast(BinaryIO, io.BufferedWriter(raw, 64 * 1024))
        self._buffering = self._out is not stream
        self._flush_scheduled_on: asyncio.AbstractEventLoop | None = None
        if self._buffering:
            atexit.register(self.flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled_on = None
        self.flush()

    def flush(self) -> None:
        # Stdout gone (a closed pipe, the interpreter shutting down): nothing left to write to,
        # and no reason to fail the request that logged.
        with contextlib.suppress(OSError, ValueError):
            self._out.flush()

    def buffered(self, line: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._out.write(line + b"\n")
        if not self._buffering:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on an event loop: nothing would come back to write it
            self.flush()
            return
        # A timer scheduled on a loop that has since closed never fires: compare loops.
        if self._flush_scheduled_on is not loop:
            self._flush_scheduled_on = loop
            loop.call_later(self.interval, self._scheduled_flush)

    def immediate(self, line: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._out.write(line + b"\n")
        self.flush()

    debug = info = buffered
    msg = log = warning = warn = error = err = critical = fatal = exception = immediate


_writers: list[LineWriter] = []


def _line_writer(stream: BinaryIO, flush_interval_seconds: float) -> LineWriter:
    """One writer per stream and interval for the process (each app's start-up configures
    logging again; tests start many)."""
    for writer in _writers:
        if writer.stream is stream and writer.interval == flush_interval_seconds:
            return writer
    _writers.append(LineWriter(stream, flush_interval_seconds))
    return _writers[-1]


_otlp_processors: list[StructlogProcessor] = []


def _json_bytes(event: Any, **_: Any) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS)


def _json_text(event: Any, **_: Any) -> str:
    return _json_bytes(event).decode()


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Standard-library records on a terminal, rendered like structlog's own console lines."""


class _LineHandler(logging.Handler):
    """Standard-library records (uvicorn, asyncpg, Tortoise, httpx, the OpenTelemetry SDK),
    rendered by structlog's ProcessorFormatter, onto the same stream as every other line."""

    def __init__(self, writer: LineWriter, formatter: logging.Formatter) -> None:
        super().__init__()
        self.writer = writer
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.immediate(self.format(record).encode())
        except Exception:  # logging must never take the caller down
            self.handleError(record)


def configure_logging(settings: Settings, *, export_otlp: bool = False) -> None:
    """structlog for every line: the app's own, and the standard library's loggers through
    structlog's ProcessorFormatter. `export_otlp`: also send records over OTLP (sampled: see
    the module docstring), through the global logger provider start_telemetry set up."""
    use_json = settings.log_json if settings.log_json is not None else not sys.stdout.isatty()
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    shared: list[structlog.types.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
    ]
    if export_otlp and not StructlogInstrumentor().is_instrumented_by_opentelemetry:
        # Before the renderer: it needs the event dict, not the rendered line. (When the
        # structlog instrumentation is on, it has put its own, unsampled, in the chain.)
        if not _otlp_processors:
            _otlp_processors.append(StructlogProcessor())  # type: ignore[no-untyped-call]
        shared.append(SampledOtlpExport(cast(structlog.types.Processor, _otlp_processors[0])))
    render: list[structlog.types.Processor]
    if use_json:
        # Tracebacks as data, without frame locals: locals can hold tokens, passwords, bodies.
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        # orjson renders bytes (a fifteenth of the standard library's json.dumps time for an
        # access-log line: 0.4 against 6 us here), which LineWriter puts on stdout.
        render = [tracebacks, structlog.processors.JSONRenderer(serializer=_json_bytes)]
    else:
        render = [structlog.dev.set_exc_info, structlog.dev.ConsoleRenderer()]
    # The standard library's loggers: warnings and above (their info is chatter), same chain,
    # rendered to text (a logging.Formatter returns str). Python's `warnings` go there too.
    stdlib_render = render
    if use_json:
        stdlib_render = [render[0], structlog.processors.JSONRenderer(serializer=_json_text)]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *stdlib_render],
    )
    logging.captureWarnings(True)
    handler: logging.Handler
    logger_factory: Callable[..., Any]
    if use_json:
        writer = _line_writer(sys.stdout.buffer, settings.log_flush_interval_seconds)
        logger_factory = lambda *_: writer  # noqa: E731 (structlog wants a factory)
        handler = _LineHandler(writer, formatter)
    else:
        logger_factory = structlog.PrintLoggerFactory(sys.stdout)
        handler = _ConsoleHandler(sys.stdout)
        handler.setFormatter(formatter)
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, *render],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=logger_factory,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LineHandler | _ConsoleHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def flush_logs() -> None:
    """Write out every buffered line and export every queued OTLP record now (the end of an
    app's lifespan: a process killed by the signal uvicorn re-raises after a graceful shutdown
    runs no atexit handlers)."""
    for processor in _otlp_processors:
        processor.flush()
    for writer in _writers:
        writer.flush()
