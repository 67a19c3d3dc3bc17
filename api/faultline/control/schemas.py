from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from faultline.faults.catalogue import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS


class FaultChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters; see the catalogue"
    )
    ttl_seconds: int = Field(
        DEFAULT_TTL_SECONDS,
        ge=1,
        le=MAX_TTL_SECONDS,
        description="The fault switches itself off after this long",
    )


class FaultView(BaseModel):
    name: str
    description: str
    targets_routes: bool
    signals: list[str]
    params_schema: dict[str, Any]
    defaults: dict[str, Any]
    active: bool
    params: dict[str, Any] | None = None
    enabled_at: float | None = None
    expires_at: float | None = None
    seconds_left: float | None = None


class FaultList(BaseModel):
    faults: list[FaultView]


class Healed(BaseModel):
    healed: list[str]
