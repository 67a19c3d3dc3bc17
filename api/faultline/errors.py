"""One error shape for every 4xx/5xx, and the exceptions the service layer raises.

Every error body is `{"error": {"code", "message", "request_id", "details"}}`. Nothing from an
exception's text reaches the client unless the exception was written for the client (AppError):
no stack traces, no SQL, no driver messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from faultline.db.errors import DB_UNAVAILABLE_ERRORS, PoolAcquireTimeout

log = structlog.get_logger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class AppError(Exception):
    """An error whose message is written for the client."""

    status_code = 500
    code = "internal_error"
    # Sent as Retry-After when set (503s, 429s).
    retry_after_seconds: int | None = None

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if retry_after_seconds is not None:
            self.retry_after_seconds = retry_after_seconds


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class InvalidRequest(AppError):
    status_code = 422
    code = "invalid_request"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    retry_after_seconds = 1


def error_response(
    request: Request | None,
    status_code: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    request_id = request.scope.get("state", {}).get("request_id") if request else None
    body = ErrorBody(
        error=ErrorDetail(code=code, message=message, request_id=request_id, details=details)
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status_code, headers=headers
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        # `input` and `ctx` can echo huge or sensitive payloads back; location and reason suffice.
        details.append(
            {"loc": list(err.get("loc", ())), "msg": err.get("msg"), "type": err.get("type")}
        )
    return details


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = None
    if exc.retry_after_seconds is not None:
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return error_response(request, exc.status_code, exc.code, exc.message, exc.details, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    if any(d["type"] == "json_invalid" for d in details):
        return error_response(
            request, 400, "malformed_json", "Request body is not valid JSON", details
        )
    return error_response(request, 422, "validation_error", "Request is invalid", details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = HTTPStatus(exc.status_code)
    code = status.phrase.lower().replace(" ", "_").replace("-", "_")
    message = exc.detail if isinstance(exc.detail, str) else status.phrase
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        # Starlette names only the methods of the first route on this path (GET and POST on
        # /orders are two routes); Allow must list every method the path supports.
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return error_response(request, exc.status_code, code, message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in _all_routes(request.app.router.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods.update(route_methods)
    return sorted(methods)


def _all_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Routes, with included routers opened (FastAPI 0.163 on keeps them as one entry each)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _all_routes(inner.routes)
        else:
            yield route


async def _acquire_timeout(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PoolAcquireTimeout)
    # A warning, so it reaches Loki (every warning does) and the API board's log panel.
    log.warning("db.pool_exhausted", acquire_timeout_s=exc.timeout)
    return error_response(
        request,
        503,
        "db_pool_exhausted",
        f"No database connection became free within {exc.timeout:g}s; try again shortly",
        headers={"Retry-After": "1"},
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database.unavailable", error_type=type(exc).__name__)
    return error_response(
        request,
        503,
        "database_unavailable",
        "The database is unavailable; try again shortly",
        headers={"Retry-After": "2"},
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Last resort for errors raised outside UnhandledErrorMiddleware (it catches the rest).
    span = trace.get_current_span()
    span.record_exception(exc)
    span.set_status(StatusCode.ERROR, type(exc).__name__)
    log.exception("request.unhandled_error", error_type=type(exc).__name__)
    return error_response(request, 500, "internal_error", "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolAcquireTimeout, _acquire_timeout)
    for exc_type in DB_UNAVAILABLE_ERRORS:
        app.add_exception_handler(exc_type, _database_unavailable)
    app.add_exception_handler(Exception, _unhandled)
