"""Fault control: validation against the catalogue, the store, and the audit trail."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import ValidationError

from faultline.control.schemas import FaultChange, FaultList, FaultView, StoreProblemView
from faultline.errors import InvalidRequest, NotFound
from faultline.faults.catalogue import CATALOGUE
from faultline.faults.spec import AnySpec as FaultSpec
from faultline.faults.store import ActiveFault, FaultStore
from faultline.telemetry.metrics import FAULT_CHANGES

audit = structlog.get_logger("faultline.audit")


def view(spec: FaultSpec, active: ActiveFault | None) -> FaultView:
    return FaultView(
        name=spec.name,
        description=spec.description,
        targets_routes=spec.targets_routes,
        signals=list(spec.signals),
        params_schema=spec.params.model_json_schema(),
        defaults=spec.params().model_dump(),
        active=active is not None,
        params=active.params.model_dump(mode="json") if active else None,
        enabled_at=active.enabled_at if active else None,
        expires_at=active.expires_at if active else None,
        seconds_left=round(active.seconds_left, 1) if active else None,
    )


def spec_of(name: str) -> FaultSpec:
    spec = CATALOGUE.get(name)
    if spec is None:
        raise NotFound(f"Unknown fault {name!r}; known: {', '.join(CATALOGUE)}")
    return spec


def validate_params(spec: FaultSpec, params: dict[str, Any]) -> dict[str, Any]:
    try:
        checked: dict[str, Any] = spec.params.model_validate(params).model_dump(mode="json")
        return checked
    except ValidationError as exc:
        details = [
            {"loc": ["body", "params", *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        raise InvalidRequest(f"Invalid parameters for {spec.name}", details=details) from exc


class FaultControl:
    def __init__(self, store: FaultStore) -> None:
        self._store = store

    async def states(self) -> FaultList:
        snapshot = await self._store.read()
        return FaultList(
            faults=[view(spec, snapshot.active.get(name)) for name, spec in CATALOGUE.items()],
            store_problems=[
                StoreProblemView(key=problem.key, problem=problem.problem)
                for problem in snapshot.problems
            ],
        )

    async def faults_on(self) -> dict[str, float]:
        """The faults on now, with when each switched on."""
        return {name: fault.enabled_at for name, fault in (await self._store.read_all()).items()}

    async def enable(self, name: str, change: FaultChange, actor: str) -> FaultView:
        spec = spec_of(name)
        params = validate_params(spec, change.params)
        fault = await self._store.enable(name, params, change.ttl_seconds)
        FAULT_CHANGES.labels(name, "enable").inc()
        audit.warning(
            "fault.audit",
            action="enable",
            fault=name,
            params=params,
            ttl_seconds=change.ttl_seconds,
            actor=actor,
        )
        return view(spec, fault)

    async def disable(self, name: str, actor: str) -> FaultView:
        spec = spec_of(name)
        was_active = await self._store.disable(name)
        FAULT_CHANGES.labels(name, "disable").inc()
        audit.warning(
            "fault.audit", action="disable", fault=name, was_active=was_active, actor=actor
        )
        return view(spec, None)

    async def heal(self, actor: str) -> list[str]:
        healed = await self._store.disable_all()
        for name in healed:
            FAULT_CHANGES.labels(name, "disable").inc()
        audit.warning("fault.audit", action="heal_all", faults=healed, actor=actor)
        return healed
