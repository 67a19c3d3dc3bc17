"""HTTP routes, one resource per module. Thin: parse, call a service, shape the response."""

from typing import Any

from fastapi import Request

from faultline import hooks
from faultline.errors import ErrorBody

# Routers carry their full prefix (no nested prefixes), so a route's own `path` is the complete
# template that logs and metrics label requests with.
API_PREFIX = "/api/v1"

# Error responses every route documents in the OpenAPI schema (same body shape for all).
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": description}
    for code, description in {
        400: "Malformed request (e.g. body is not JSON)",
        413: "Request body too large",
        422: "Invalid parameters or body",
        500: "Internal error (no details are exposed)",
        503: "A dependency (database) is unavailable or the connection pool is exhausted",
    }.items()
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Not found"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Not enough stock for one of the items"}
}


async def before_request(request: Request) -> None:
    """Router dependency: the `before_request` seam, inside the handler's context (so an error a
    fault raises is raised where a real one would be, and the route template is known)."""
    await hooks.current().before_request(str(getattr(request.scope.get("route"), "path", "")))
