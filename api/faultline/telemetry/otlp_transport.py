"""The HTTP transport of Faultline's OTLP exporters (faultline.telemetry.otlp_encoding): the
library's own, with one change, `TracebackFreeTransport` (its docstring says why)."""

from __future__ import annotations

from opentelemetry.exporter.http.transport._base import BaseHTTPResult, BaseHTTPTransport


class TracebackFreeTransport(BaseHTTPTransport):
    """The OTLP exporter's HTTP transport, handing back a failed request's error without its
    traceback (nor those of the errors chained to it).

    Why: with the collector down, every attempt fails with a connection error whose traceback
    holds the frames it passed through, and through their callers the export thread's frames
    with the batch (512 spans or log records and everything they hold); the error is referenced
    from those frames too, a reference cycle, so none of it was freed until a garbage collection
    found it. Those batches, a few a second, filled generation 0: a collection every ~3 s walking
    tens of thousands of objects, 12-16 ms each with every request in flight waiting (measured
    under `make bench`'s fixed rate, gc.callbacks, 2026-12-01; with the collector up, none in
    20 s). Without the tracebacks nothing is cyclic and reference counting frees each batch as its
    export ends. The error's type and message, all that is logged, are kept."""

    def __init__(self, inner: BaseHTTPTransport) -> None:
        self.inner = inner

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        data: bytes | None = None,
    ) -> BaseHTTPResult:
        result = self.inner.request(method, url, headers=headers, timeout=timeout, data=data)
        if result.error is not None:
            drop_tracebacks(result.error)
        return result

    def is_connection_error(self, exception: Exception | None) -> bool:
        return self.inner.is_connection_error(exception)

    def close(self) -> None:
        self.inner.close()


def drop_tracebacks(error: BaseException) -> None:
    """Clear the traceback of an error and of every error chained to it (cause, context, and
    those it carries as arguments or as urllib3's `reason`)."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += current.args
