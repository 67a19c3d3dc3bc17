"""The lab's pager: incidents from Alertmanager's webhook, kept in an append-only log file.

An incident is one alert's firing episode (Alertmanager's fingerprint and its `startsAt`): when
it fired, when the first notification about it arrived here (the page), when someone
acknowledged it and when it resolved. Every change is one JSON line appended and flushed to disk
before the webhook is answered, so what Alertmanager was told "received" survives a restart of
the control service; the state is those lines replayed. A line that cannot be read is reported
(`problems`) and skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    computed_field,
)

from faultline.control import journal
from faultline.json_types import JsonInt
from faultline.telemetry.metrics import (
    INCIDENT_TIME_TO_ACKNOWLEDGE,
    INCIDENT_TIME_TO_DETECT,
    INCIDENT_TIME_TO_RESOLVE,
)

log = structlog.get_logger(__name__)

Labels = dict[str, str]


def _text_only(value: object) -> datetime:
    """Alertmanager sends RFC 3339 text (nanoseconds and all): a number is not taken for a Unix
    time. Parsed here because the models are strict, which takes no text for a datetime."""
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 time as text")
    return _LAX_TIME.validate_python(value)


_LAX_TIME = TypeAdapter(datetime)


Time = Annotated[datetime, BeforeValidator(_text_only)]


class WebhookAlert(BaseModel):
    """One alert in Alertmanager's webhook message (version 4)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    status: Literal["firing", "resolved"]
    labels: Labels = Field(max_length=64)
    annotations: Labels = Field(default_factory=dict, max_length=64)
    startsAt: Time  # Alertmanager's own field names
    endsAt: Time | None = None
    generatorURL: str = Field(default="", max_length=2048)
    fingerprint: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")


class WebhookMessage(BaseModel):
    """Alertmanager's webhook body: the fields of version 4 as Alertmanager 0.25 to 0.34 send
    them. Anything else is refused (422): an upgrade that changes the message shows here."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: Literal["4"]
    groupKey: str = Field(max_length=4096)
    truncatedAlerts: JsonInt = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = Field(min_length=1, max_length=128)
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: str = Field(default="", max_length=2048)
    # Alertmanager 0.29+ adds these two.
    routeLabels: Labels | None = None
    notification_reason: str | None = Field(default=None, max_length=128)
    alerts: list[WebhookAlert] = Field(min_length=1, max_length=100)


class Incident(BaseModel):
    id: str = Field(description="Stable id: the alert's fingerprint and when it started")
    alertname: str
    severity: str
    receiver: str = Field(description="The Alertmanager route that notified: pager or tickets")
    summary: str
    description: str
    labels: Labels
    annotations: Labels
    fired_at: float = Field(description="When the alert started firing (Prometheus)")
    paged_at: float = Field(description="When the first notification arrived here")
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    status: Literal["firing", "resolved"]
    faults: list[str] = Field(
        default_factory=list, description="The faults that were on when it paged"
    )
    fault_started_at: float | None = Field(
        default=None, description="When the first of those faults switched on"
    )
    runbook_url: str | None = Field(
        default=None, description="Where its signal is: the Grafana board, or the console chart"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_to_detect(self) -> float | None:
        """Seconds from the fault switching on to the page."""
        return _between(self.fault_started_at, self.paged_at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_to_acknowledge(self) -> float | None:
        """Seconds from the page to its acknowledgement."""
        return _between(self.paged_at, self.acknowledged_at)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_to_resolve(self) -> float | None:
        """Seconds from the page to the alert resolving."""
        return _between(self.paged_at, self.resolved_at)


def _between(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(max(0.0, end - start), 1)


def runbook_url(incident: Incident, grafana_url: str | None) -> str | None:
    """The board its `dashboard` annotation names, in Grafana (compose), from a little before
    it fired; without Grafana (the native lab), its `console_chart` on the console."""
    dashboard = incident.annotations.get("dashboard")
    if grafana_url and dashboard:
        since = int((incident.fired_at - 900) * 1000)
        return f"{grafana_url.rstrip('/')}{dashboard}?from={since}&to=now"
    chart = incident.annotations.get("console_chart")
    return f"/#chart-{chart}" if chart else None


class IncidentList(BaseModel):
    incidents: list[Incident] = Field(description="Newest first")
    problems: list[str] = Field(
        default_factory=list, description="Lines of the incident log that could not be read"
    )


def incident_id(alert: WebhookAlert) -> str:
    started = alert.startsAt.timestamp()
    return hashlib.sha256(f"{alert.fingerprint}@{started:.3f}".encode()).hexdigest()[:16]


class IncidentLog:
    """Incidents kept as JSON lines in `path` (appended, flushed and fsynced per change)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.incidents: dict[str, Incident] = {}
        self.problems: list[str] = []
        self._lock = asyncio.Lock()
        # Each response-time series present at zero from the start (here, not where the metrics
        # are defined, so API replicas do not export them): a series born at 1 would hide its
        # first observation from increase().
        for histogram in (
            INCIDENT_TIME_TO_DETECT,
            INCIDENT_TIME_TO_ACKNOWLEDGE,
            INCIDENT_TIME_TO_RESOLVE,
        ):
            for severity in ("page", "ticket"):
                histogram.labels(severity)

    def load(self) -> None:
        self.problems = journal.replay(self.path, self._apply, "incident.log_line_invalid")

    def _apply(self, entry: dict[str, Any]) -> None:
        if entry["kind"] == "incident":
            incident = Incident.model_validate(entry["incident"])
            self.incidents[incident.id] = incident
        elif entry["kind"] == "acknowledged":
            incident = self.incidents[entry["id"]]
            incident.acknowledged_at = float(entry["at"])
            incident.acknowledged_by = str(entry["by"])
        else:
            raise KeyError(entry["kind"])

    async def _append(self, entries: list[dict[str, Any]]) -> None:
        await journal.append(self.path, entries)

    async def receive(
        self, message: WebhookMessage, faults_on: dict[str, float] | None = None
    ) -> list[Incident]:
        """Record a webhook message: new incidents, and those that resolved. `faults_on`: the
        faults on now, with when each switched on (a new incident names them). Returns what
        changed."""
        now = time.time()
        faults_on = faults_on or {}
        async with self._lock:
            changed = []
            for alert in message.alerts:
                key = incident_id(alert)
                known = self.incidents.get(key)
                resolved = alert.status == "resolved"
                if known is not None and (known.resolved_at is not None or not resolved):
                    continue  # a repeat notification: nothing new
                incident = known or Incident(
                    id=key,
                    alertname=alert.labels.get("alertname", "?"),
                    severity=alert.labels.get("severity", "none"),
                    receiver=message.receiver,
                    summary=alert.annotations.get("summary", ""),
                    description=alert.annotations.get("description", ""),
                    labels=alert.labels,
                    annotations=alert.annotations,
                    fired_at=alert.startsAt.timestamp(),
                    paged_at=now,
                    status="firing",
                    faults=sorted(faults_on),
                    fault_started_at=min(faults_on.values(), default=None),
                )
                if resolved:
                    incident = incident.model_copy(
                        update={
                            "status": "resolved",
                            "resolved_at": alert.endsAt.timestamp() if alert.endsAt else now,
                        }
                    )
                changed.append(incident)
            if changed:
                await self._append(
                    [{"kind": "incident", "incident": i.model_dump(mode="json")} for i in changed]
                )
                for incident in changed:
                    self.incidents[incident.id] = incident
                    _observe(incident, "resolved" if incident.status == "resolved" else "paged")
                    log.warning(
                        "incident.paged" if incident.status == "firing" else "incident.resolved",
                        incident=incident.id,
                        alertname=incident.alertname,
                        severity=incident.severity,
                        receiver=incident.receiver,
                    )
            return changed

    async def acknowledge(self, key: str, actor: str) -> Incident | None:
        """Acknowledge an incident (the first acknowledgement counts); None if unknown."""
        async with self._lock:
            incident = self.incidents.get(key)
            if incident is None:
                return None
            if incident.acknowledged_at is None:
                now = time.time()
                await self._append([{"kind": "acknowledged", "id": key, "at": now, "by": actor}])
                incident.acknowledged_at, incident.acknowledged_by = now, actor
                _observe(incident, "acknowledged")
                log.info("incident.acknowledged", incident=key, by=actor)
            return incident

    def listing(self, grafana_url: str | None = None) -> IncidentList:
        newest = sorted(self.incidents.values(), key=lambda i: i.paged_at, reverse=True)
        return IncidentList(
            incidents=[
                i.model_copy(update={"runbook_url": runbook_url(i, grafana_url)}) for i in newest
            ],
            problems=list(self.problems),
        )


def _observe(incident: Incident, event: Literal["paged", "acknowledged", "resolved"]) -> None:
    """The response time this event completes, as a metric (live events only, not replays)."""
    histogram, seconds = {
        "paged": (INCIDENT_TIME_TO_DETECT, incident.time_to_detect),
        "acknowledged": (INCIDENT_TIME_TO_ACKNOWLEDGE, incident.time_to_acknowledge),
        "resolved": (INCIDENT_TIME_TO_RESOLVE, incident.time_to_resolve),
    }[event]
    if seconds is not None:
        histogram.labels(incident.severity).observe(seconds)
