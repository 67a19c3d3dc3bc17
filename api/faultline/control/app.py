"""The control service app: `faultline control` runs it on port 8080.

Reads are open; writes need `Authorization: Bearer $FAULTLINE_ADMIN_TOKEN` (compared in constant
time). With no token configured (or an empty one), writes are refused (503) rather than left open.
Failed authentications are counted per client (CONTROL_FAILED_AUTH_LIMIT); past the limit that
client gets 429. A right token is never refused: heal must always work. Before serving, the
service refuses to run exposed beyond loopback with a demo token (faultline.exposure).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal, NoReturn

import httpx
import structlog
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Security
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from redis.exceptions import RedisError

from faultline import __version__
from faultline.cache import create_redis
from faultline.config import Settings, get_settings
from faultline.control.charts import chart_data
from faultline.control.drills import Diagnosis, DrillBook, DrillStart, DrillView, ResultList
from faultline.control.incidents import (
    Incident,
    IncidentList,
    IncidentLog,
    WebhookMessage,
    runbook_url,
)
from faultline.control.rate_limit import FailedAuthLimiter
from faultline.control.schemas import FaultChange, FaultList, FaultView, Healed, change_model_for
from faultline.control.service import FaultControl, spec_of
from faultline.errors import AppError, ErrorBody, error_response, install_error_handlers
from faultline.faults.catalogue import CATALOGUE
from faultline.faults.runtime import RUNTIME as FAULTS
from faultline.faults.spec import AnySpec as FaultSpec
from faultline.faults.store import FaultStore
from faultline.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    UnhandledErrorMiddleware,
    add_cors,
)
from faultline.telemetry.http import router as metrics_router
from faultline.telemetry.logs import configure_logging, flush_logs
from faultline.telemetry.metrics import FAILED_AUTHS


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class WritesDisabled(AppError):
    status_code = 503
    code = "writes_disabled"


async def get_control(request: Request) -> FaultControl:
    control: FaultControl = request.app.state.control
    return control


# Declared in the OpenAPI document (an Authorize button in /docs; schemathesis and other clients
# find it there). auto_error=False: a missing or wrong token is answered below, and counted.
ADMIN_TOKEN = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="FAULTLINE_ADMIN_TOKEN as `Authorization: Bearer <token>`, to change faults",
)


async def _refuse(request: Request, message: str) -> NoReturn:
    """A missing or wrong token: counted against the client's limit; past it, 429, not 401."""
    client = request.client.host if request.client else "unknown"
    limiter: FailedAuthLimiter = request.app.state.failed_auth_limiter
    retry_after = await limiter.hit(client)
    if retry_after is not None:
        FAILED_AUTHS.labels("rate_limited").inc()
        raise RateLimited(
            f"Too many failed authentications from this client: at most {limiter.limit}",
            retry_after_seconds=retry_after,
        )
    FAILED_AUTHS.labels("unauthorized").inc()
    raise Unauthorized(message)


def _matches(credentials: HTTPAuthorizationCredentials | None, expected: SecretStr) -> bool:
    """The bearer token is the expected one (compared in constant time)."""
    return credentials is not None and hmac.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    )


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(ADMIN_TOKEN)],
) -> str:
    """The caller's identity for the audit log, once the bearer token checks out."""
    settings: Settings = request.app.state.settings
    expected = settings.faultline_admin_token
    if expected is None:
        raise WritesDisabled("Fault changes are disabled: set FAULTLINE_ADMIN_TOKEN")
    if not _matches(credentials, expected):
        await _refuse(request, "A valid bearer token is required to change faults")
    client = request.client.host if request.client else "unknown"
    return f"token@{client}"


ControlDep = Annotated[FaultControl, Depends(get_control)]
AdminDep = Annotated[str, Depends(require_admin)]
FaultName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z_]+$")]
Responses = dict[int | str, dict[str, Any]]
UNAUTHORIZED: Responses = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token"}
}
NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "Unknown fault"}}
INVALID: Responses = {
    400: {"model": ErrorBody, "description": "Body is not JSON"},
    413: {"model": ErrorBody, "description": "Body too large"},
    422: {"model": ErrorBody, "description": "Parameters outside the catalogue's bounds"},
}
WRITE_ERRORS: Responses = {
    **UNAUTHORIZED,
    429: {
        "model": ErrorBody,
        "description": "Too many failed authentications from this client; see Retry-After",
    },
    503: {"model": ErrorBody, "description": "Fault store unreachable, or writes disabled"},
}


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"


api = APIRouter(prefix="/api/faults", tags=["faults"])


@api.get("", response_model=FaultList, summary="Catalogue, current state and time left")
async def list_faults(control: ControlDep) -> FaultList:
    return await control.states()


def _add_fault_routes(spec: FaultSpec) -> None:
    """PUT and DELETE /api/faults/<name>, the PUT body with this fault's own parameter model, so
    the OpenAPI document says exactly what each fault accepts (routes per catalogue entry)."""
    change_model = change_model_for(spec)

    async def enable(
        change: Any,
        control: ControlDep,
        actor: AdminDep,
    ) -> FaultView:
        generic = FaultChange(
            params=change.params.model_dump(mode="json"), ttl_seconds=change.ttl_seconds
        )
        return await control.enable(spec.name, generic, actor)

    # The body's type is built at runtime: give FastAPI the class, not the postponed annotation.
    enable.__annotations__["change"] = change_model

    api.add_api_route(
        f"/{spec.name}",
        enable,
        methods=["PUT"],
        response_model=FaultView,
        responses={**WRITE_ERRORS, **INVALID},
        summary=f"Turn {spec.name} on (or change its parameters); off after ttl_seconds",
        description=spec.description,
        operation_id=f"enable_{spec.name}",
    )

    async def disable(control: ControlDep, actor: AdminDep) -> FaultView:
        return await control.disable(spec.name, actor)

    api.add_api_route(
        f"/{spec.name}",
        disable,
        methods=["DELETE"],
        response_model=FaultView,
        responses=WRITE_ERRORS,
        summary=f"Turn {spec.name} off",
        operation_id=f"disable_{spec.name}",
    )


for _spec in CATALOGUE.values():
    _add_fault_routes(_spec)


@api.api_route(
    "/{name}",
    methods=["PUT", "DELETE"],
    include_in_schema=False,
)
async def unknown_fault(name: FaultName, actor: AdminDep) -> FaultView:
    """Only names outside the catalogue reach this (each known fault has its own routes)."""
    spec_of(name)  # raises 404 with the list of known faults
    raise AssertionError("unreachable: known faults have their own routes")


@api.delete(
    "",
    response_model=Healed,
    responses=WRITE_ERRORS,
    summary="Turn every fault off",
)
async def heal_all(control: ControlDep, actor: AdminDep) -> Healed:
    return Healed(healed=await control.heal(actor))


class PagerOff(AppError):
    status_code = 503
    code = "pager_off"


class UnknownIncident(AppError):
    status_code = 404
    code = "unknown_incident"


# Alertmanager's webhook: a token of its own (ALERT_WEBHOOK_TOKEN), not the admin token.
WEBHOOK_TOKEN = HTTPBearer(
    auto_error=False,
    scheme_name="alertWebhookToken",
    description="ALERT_WEBHOOK_TOKEN as `Authorization: Bearer <token>`: Alertmanager's webhook",
)


async def get_incidents(request: Request) -> IncidentLog:
    incidents: IncidentLog | None = request.app.state.incidents
    if incidents is None:
        raise PagerOff("The pager is off: set INCIDENTS_PATH")
    return incidents


async def require_alertmanager(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(WEBHOOK_TOKEN)],
) -> None:
    settings: Settings = request.app.state.settings
    expected = settings.alert_webhook_token
    if expected is None:
        raise PagerOff("The pager's webhook is off: set ALERT_WEBHOOK_TOKEN")
    if not _matches(credentials, expected):
        await _refuse(request, "Alertmanager's bearer token (ALERT_WEBHOOK_TOKEN) is required")


IncidentsDep = Annotated[IncidentLog, Depends(get_incidents)]
PAGER_OFF: Responses = {
    503: {"model": ErrorBody, "description": "The pager is off (INCIDENTS_PATH)"}
}
IncidentId = Annotated[str, Path(min_length=16, max_length=16, pattern=r"^[0-9a-f]+$")]
incidents_router = APIRouter(prefix="/api/incidents", tags=["incidents"])


@incidents_router.get(
    "",
    response_model=IncidentList,
    responses=PAGER_OFF,
    summary="Incidents paged by Alertmanager, newest first",
)
async def list_incidents(request: Request, incidents: IncidentsDep) -> IncidentList:
    settings: Settings = request.app.state.settings
    return incidents.listing(settings.grafana_url)


@incidents_router.post(
    "/alertmanager",
    response_model=list[Incident],
    responses={**WRITE_ERRORS, **INVALID},
    summary="Alertmanager's webhook: record what fired and what resolved",
    dependencies=[Depends(require_alertmanager)],
)
async def alertmanager_webhook(
    message: WebhookMessage, incidents: IncidentsDep, control: ControlDep
) -> list[Incident]:
    # A new incident names the faults on now: its time to detect starts at the first of them.
    # (Fault store unreachable: the incident is still recorded, with no fault named.)
    try:
        faults_on = await control.faults_on()
    except (RedisError, OSError):
        faults_on = {}
    return await incidents.receive(message, faults_on)


@incidents_router.post(
    "/{incident}/acknowledge",
    response_model=Incident,
    responses={**WRITE_ERRORS, 404: {"model": ErrorBody, "description": "Unknown incident"}},
    summary="Acknowledge an incident (someone is on it)",
)
async def acknowledge(
    request: Request, incident: IncidentId, incidents: IncidentsDep, actor: AdminDep
) -> Incident:
    found = await incidents.acknowledge(incident, actor)
    if found is None:
        raise UnknownIncident(f"No incident {incident}")
    settings: Settings = request.app.state.settings
    return found.model_copy(update={"runbook_url": runbook_url(found, settings.grafana_url)})


class TimelineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    markdown: str = Field(min_length=1, max_length=12_000, description="The drill's timeline")


class TimelineOut(TimelineIn):
    written_at: float


class NoTimeline(AppError):
    status_code = 404
    code = "no_timeline"


drills = APIRouter(prefix="/api/drills", tags=["drills"])


def _timeline_file(incidents: IncidentLog) -> FilePath:
    return incidents.path.with_name("last-timeline.json")


@drills.put(
    "/last/timeline",
    response_model=TimelineOut,
    responses={**WRITE_ERRORS, **INVALID},
    summary="Keep the last drill's timeline (the scenario runner sends it), for the console",
)
async def keep_timeline(body: TimelineIn, incidents: IncidentsDep, actor: AdminDep) -> TimelineOut:
    kept = TimelineOut(markdown=body.markdown, written_at=time.time())
    await asyncio.to_thread(_timeline_file(incidents).write_text, kept.model_dump_json())
    return kept


@drills.get(
    "/last/timeline",
    response_model=TimelineOut,
    responses={**PAGER_OFF, 404: {"model": ErrorBody, "description": "No drill yet"}},
    summary="The last drill's timeline and postmortem skeleton (Markdown)",
)
async def last_timeline(incidents: IncidentsDep) -> TimelineOut:
    try:
        text = await asyncio.to_thread(_timeline_file(incidents).read_text)
    except FileNotFoundError as exc:
        raise NoTimeline("No drill timeline yet: `make scenario` writes one") from exc
    try:
        return TimelineOut.model_validate_json(text)
    except ValidationError as exc:
        structlog.get_logger(__name__).error("drill.timeline_unreadable")
        raise NoTimeline("The last timeline could not be read: `make timeline` writes it") from exc


class DrillsOff(AppError):
    status_code = 503
    code = "drills_off"


class NoDrill(AppError):
    status_code = 404
    code = "no_drill"


async def get_drill_book(request: Request) -> DrillBook:
    book: DrillBook | None = request.app.state.drills
    if book is None:
        raise DrillsOff("Self-paced drills are off: set INCIDENTS_PATH (results are kept beside)")
    return book


DrillBookDep = Annotated[DrillBook, Depends(get_drill_book)]
DRILL_CONFLICT: Responses = {
    409: {"model": ErrorBody, "description": "No drill running, or already diagnosed"},
    503: {"model": ErrorBody, "description": "Drills are off (INCIDENTS_PATH)"},
}


@drills.put(
    "/current",
    response_model=DrillView,
    responses={**WRITE_ERRORS, **INVALID},
    summary="Start a self-paced drill (the scenario runner does, with MODE=self)",
)
async def start_drill(body: DrillStart, book: DrillBookDep, actor: AdminDep) -> DrillView:
    return await book.begin(body)


@drills.get(
    "/current",
    response_model=DrillView,
    responses={**DRILL_CONFLICT, 404: {"model": ErrorBody, "description": "No drill yet"}},
    summary="The self-paced drill: brief, hints unlocked, causes to choose from; the score after",
)
async def current_drill(book: DrillBookDep) -> DrillView:
    if book.current is None:
        raise NoDrill("No self-paced drill yet: make scenario NAME=... MODE=self")
    return book.current.view(time.time())


@drills.post(
    "/current/hints",
    response_model=DrillView,
    responses={**WRITE_ERRORS, **DRILL_CONFLICT},
    summary="Unlock the next hint (each one unlocked counts as used)",
)
async def unlock_hint(book: DrillBookDep, actor: AdminDep) -> DrillView:
    return await book.hint()


@drills.post(
    "/current/diagnosis",
    response_model=DrillView,
    responses={**WRITE_ERRORS, **INVALID, **DRILL_CONFLICT},
    summary="Submit the diagnosis (once): scored, and the key revealed",
)
async def diagnose(body: Diagnosis, book: DrillBookDep, actor: AdminDep) -> DrillView:
    return await book.diagnose(body)


@drills.delete(
    "/current",
    response_model=DrillView,
    responses={**WRITE_ERRORS, **DRILL_CONFLICT},
    summary="End the drill (its time is up): scored with no diagnosis unless it had one",
)
async def end_drill(book: DrillBookDep, actor: AdminDep) -> DrillView:
    return await book.end()


@drills.get(
    "/results",
    response_model=ResultList,
    responses={503: DRILL_CONFLICT[503]},
    summary="Every self-paced drill's score, newest first, and the scenarios done",
)
async def drill_results(book: DrillBookDep) -> ResultList:
    return book.listing()


class ChartsUnavailable(AppError):
    status_code = 503
    code = "charts_unavailable"


charts_router = APIRouter(prefix="/api", tags=["charts"])


@charts_router.get(
    "/charts",
    summary="Key signals from Prometheus, with fault marks",
    responses={503: {"model": ErrorBody, "description": "Prometheus not configured or down"}},
)
async def charts(
    request: Request,
    minutes: Annotated[int, Query(ge=1, le=60)] = 10,
    by: Annotated[
        Literal["lab", "replica"],
        Query(description="lab: the lab as a whole; replica: a line per API replica"),
    ] = "lab",
) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    if not settings.prometheus_url:
        raise ChartsUnavailable("No PROMETHEUS_URL configured: live charts are off")
    try:
        return await chart_data(
            settings.prometheus_url, settings.grafana_url, minutes, per_replica=by == "replica"
        )
    except httpx.HTTPError as exc:
        raise ChartsUnavailable(f"Prometheus did not answer ({type(exc).__name__})") from exc


pages = APIRouter(include_in_schema=False)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pages.get("/", response_class=HTMLResponse)
async def console() -> HTMLResponse:
    html = resources.files("faultline.control").joinpath("static/console.html").read_text()
    return HTMLResponse(html, headers=SECURITY_HEADERS)


@pages.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request,
        503,
        "fault_store_unavailable",
        "The fault store (Redis) is unreachable; replicas have switched every fault off",
        headers={"Retry-After": "2"},
    )


def create_control_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        redis = create_redis(settings)
        app.state.control = FaultControl(FaultStore(redis))
        app.state.incidents = None
        app.state.drills = None
        if settings.incidents_path is not None:
            app.state.incidents = IncidentLog(settings.incidents_path)
            await asyncio.to_thread(app.state.incidents.load)
            app.state.drills = DrillBook(settings.incidents_path.with_name("drills.jsonl"))
            await asyncio.to_thread(app.state.drills.load)
        # The control service keeps its own view in step too, so its /metrics show fault_active;
        # it only watches: no fault acts in this process.
        await FAULTS.start(
            redis,
            settings.fault_sync_interval_seconds,
            settings.fault_store_grace_seconds,
            effects=False,
        )
        try:
            yield
        finally:
            await FAULTS.stop()
            await redis.aclose()
            flush_logs()  # uvicorn re-raises SIGTERM at the end: atexit would not run

    app = FastAPI(
        title="Faultline control",
        version=__version__,
        lifespan=lifespan,
        description="Break the shop on purpose, at runtime. Writes need the admin bearer token.",
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.failed_auth_limiter = FailedAuthLimiter(settings.control_failed_auth_limit)
    install_error_handlers(app)
    app.add_exception_handler(RedisError, _store_unavailable)
    app.add_exception_handler(OSError, _store_unavailable)
    app.include_router(api)
    app.include_router(incidents_router)
    app.include_router(drills)
    app.include_router(charts_router)
    app.include_router(pages)
    app.include_router(metrics_router)
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=16 * 1024)
    # The control service: no traces, and no RED series next to the shop's.
    app.add_middleware(RequestContextMiddleware, tracing=False, http_metrics=False)
    add_cors(app, settings)
    return app
