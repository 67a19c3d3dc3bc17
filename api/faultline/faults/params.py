"""What every fault's parameter model builds on: strict JSON types, and route targeting.

A fault's parameters are a pydantic model (types, defaults, bounds): the control API validates
with it, the console builds its form from its JSON schema, the fault store's entries are checked
against it when read, and the fault's hooks receive an instance of it.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Shop routes a fault can target (templates, as metrics and traces label them).
ShopRoute = Literal[
    "/api/v1/products",
    "/api/v1/products/{product_id}",
    "/api/v1/orders",
    "/api/v1/orders/{order_id}",
]
SHOP_ROUTES: tuple[str, ...] = ShopRoute.__args__  # type: ignore[attr-defined]


class FaultParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)  # no "1" or true for 1

    replica: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="Only this API replica (api-2: its Prometheus instance); unset: every replica",
    )

    def acts_on(self, replica: str | None) -> bool:
        """Whether the fault acts in the process named `replica` (None: not a named replica)."""
        return self.replica is None or self.replica == replica


class RoutedParams(FaultParams):
    routes: list[ShopRoute] = Field(
        default_factory=list,
        max_length=len(SHOP_ROUTES),
        description="Route templates to affect; empty means every shop route",
    )
    probability: float = Field(1.0, ge=0, le=1, description="Share of matching requests affected")

    def hits(self, route: str) -> bool:
        """Whether this request, on this route, is one the fault affects (drawn at each call)."""
        if self.routes and route not in self.routes:
            return False
        return random.random() < self.probability
