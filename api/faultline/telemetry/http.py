"""HTTP metrics: RED per route through prometheus-fastapi-instrumentator, with exemplars, and the
/metrics endpoint that speaks OpenMetrics when the scraper asks for it.

The instrumentator records no exemplars and always answers in the classic text format, which
cannot carry them. Here the duration is observed while the request's server span is current
(RequestContextMiddleware, which makes it, wraps the instrumentator), and /metrics negotiates the
format.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from opentelemetry import trace
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info

from faultline.telemetry.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

router = APIRouter()


def current_exemplar() -> dict[str, str] | None:
    """The current span's ids as an exemplar, if the span is sampled (else nothing to link to)."""
    context = trace.get_current_span().get_span_context()
    if not (context.is_valid and context.trace_flags.sampled):
        return None
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


def record_request(info: Info) -> None:
    HTTP_REQUESTS.labels(info.modified_handler, info.method, info.modified_status).inc()
    HTTP_REQUEST_DURATION.labels(info.modified_handler, info.method).observe(
        info.modified_duration, current_exemplar()
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), media_type=content_type)


def instrument_http(app: FastAPI) -> None:
    Instrumentator(
        should_group_status_codes=True,  # 2xx/4xx/5xx: bounded label values
        should_ignore_untemplated=False,
        should_group_untemplated=True,  # unknown paths become "none", never the raw path
        excluded_handlers=["/metrics"],
    ).add(record_request).instrument(app)
    app.include_router(router)
