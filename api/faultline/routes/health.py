from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from faultline.deps import HealthDep
from faultline.errors import ErrorBody, error_response
from faultline.schemas import Health
from faultline.shutdown import DRAIN

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Health, summary="The process is up")
async def live() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Health,
    responses={
        503: {"model": ErrorBody, "description": "PostgreSQL is unreachable, or shutting down"}
    },
    summary="PostgreSQL reachable (Redis down = degraded, still ready)",
)
async def ready(request: Request, health: HealthDep) -> Health | JSONResponse:
    if DRAIN.draining:
        return error_response(
            request, 503, "draining", "Shutting down: finishing in-flight requests"
        )
    is_ready, report = await health.readiness()
    if is_ready:
        return report
    down = [c.component for c in report.checks if c.status == "down"]
    return error_response(
        request,
        503,
        "not_ready",
        f"Unavailable: {', '.join(down)}",
        details=[c.model_dump(exclude_none=True) for c in report.checks],
        headers={"Retry-After": "2"},
    )
