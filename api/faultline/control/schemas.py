from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from faultline.faults.catalogue import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS
from faultline.faults.spec import AnySpec as FaultSpec
from faultline.json_types import JsonInt


class FaultChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters; see the catalogue"
    )
    ttl_seconds: JsonInt = Field(
        DEFAULT_TTL_SECONDS,
        ge=1,
        le=MAX_TTL_SECONDS,
        description="The fault switches itself off after this long",
    )


@cache
def change_model_for(spec: FaultSpec) -> type[BaseModel]:
    """The body of PUT /api/faults/<name>: FaultChange with this fault's own parameter model, so
    the OpenAPI document (and schemathesis, and any client generator) knows every bound."""
    title = "".join(part.title() for part in spec.name.split("_"))
    return create_model(
        f"{title}Change",
        __config__=ConfigDict(extra="forbid", strict=True),
        params=(spec.params, Field(default_factory=spec.params, description=spec.description)),
        ttl_seconds=(JsonInt, FaultChange.model_fields["ttl_seconds"]),
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


class StoreProblemView(BaseModel):
    key: str = Field(description="The fault store key that was refused")
    problem: str = Field(description="What is wrong with it; the fault counts as off")


class FaultList(BaseModel):
    faults: list[FaultView]
    store_problems: list[StoreProblemView] = Field(
        default_factory=list,
        description="Entries in the fault store that were refused (heal deletes them)",
    )


class Healed(BaseModel):
    healed: list[str]
