"""Pure ASGI middleware (not BaseHTTPMiddleware, which costs a third of the throughput here).

- RequestContextMiddleware: the request's server span (when tracing is on; see
  faultline.telemetry.server_span), around everything else; a request id for every request (an
  incoming, well-formed X-Request-ID is honoured), returned in the response and bound to every
  log line; the HTTP RED metrics (faultline.telemetry.http) and one access log line per request,
  both inside the server span (so they carry its trace id); the in-flight gauge.
- BodySizeLimitMiddleware: refuses bodies over the limit with 413, whether or not the client
  sent Content-Length.
- add_cors: Starlette's CORSMiddleware, for the configured origins only.
- UnhandledErrorMiddleware: any exception no handler took becomes a 500 in the error shape,
  logged once with its traceback and recorded on the span. (Starlette's own last resort answers
  and then re-raises, so the server logs every error a second time.)
"""

from __future__ import annotations

import json
import re
import time
import uuid

import structlog
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faultline import __version__
from faultline.config import Settings
from faultline.telemetry.http import record_request
from faultline.telemetry.metrics import HTTP_IN_FLIGHT
from faultline.telemetry.server_span import ServerSpan

log = structlog.get_logger("faultline.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    return str(getattr(route, "path", "")) or None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, tracing: bool, http_metrics: bool) -> None:
        self.app = app
        self.tracer = trace.get_tracer("faultline.http", __version__) if tracing else None
        self.http_metrics = http_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        server_span = ServerSpan.start(scope, self.tracer) if self.tracer else None
        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            HTTP_IN_FLIGHT.dec()
            route = _route_template(scope)
            duration = time.perf_counter() - started
            if self.http_metrics:
                record_request(route, scope["method"], status, duration)
            # Server errors at warning level: they reach Loki whether or not the trace was
            # sampled (see faultline.telemetry.logs).
            (log.warning if status >= 500 else log.info)(
                "request",
                method=scope["method"],
                route=route or "<unmatched>",
                status=status,
                duration_ms=round(duration * 1000, 2),
            )
            structlog.contextvars.reset_contextvars(**bound)
            if server_span is not None:
                server_span.finish(scope["method"], route, status)


async def send_error(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    """An error in the one error shape, straight from ASGI middleware (no app to render it)."""
    error = {"code": code, "message": message}
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        error["request_id"] = request_id
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._reject(scope, send)
            return

        received = 0
        response_started = False
        rejected = False

        async def counting_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Answer 413 now and tell the app the client went away. (Raising here would
                    # not work: FastAPI turns any error while reading the body into a 400.)
                    rejected = True
                    if not response_started:
                        await self._reject(scope, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if rejected:
                return  # the 413 is the response; whatever the app says after it is dropped
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        message = f"Request body exceeds {self.max_body_bytes} bytes"
        await send_error(scope, send, 413, "payload_too_large", message)


class UnhandledErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            span = trace.get_current_span()
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            log.exception("request.unhandled_error", error_type=type(exc).__name__)
            if response_started:
                raise  # too late to answer; the server closes the connection
            await send_error(scope, send, 500, "internal_error", "Internal server error")


def add_cors(app: Starlette, settings: Settings) -> None:
    """CORS for the configured origins only (CORS_ALLOW_ORIGINS); none configured, none added, so
    browsers refuse every cross-origin call. Outermost, so preflights are answered first."""
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
            max_age=600,
        )
