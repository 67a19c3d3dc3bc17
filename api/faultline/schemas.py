"""Request and response bodies of the shop API. Money is a Decimal, serialised as a string."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from faultline.json_types import JsonInt

# PostgreSQL `integer` ids: anything outside this range cannot exist, so it is refused up front.
MAX_DB_ID = 2**31 - 1
ProductId = Annotated[JsonInt, Field(ge=1, le=MAX_DB_ID)]
MAX_ITEMS_PER_ORDER = 50
MAX_QUANTITY_PER_ITEM = 100
PRODUCTS_PAGE_MAX = 100
ORDERS_PAGE_MAX = 50
MAX_OFFSET = 1_000_000


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str
    name: str
    description: str
    price: Decimal
    stock: int


class ProductPage(BaseModel):
    items: list[ProductOut]
    total: int
    limit: int
    offset: int


class OrderItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no "1" or true for 1

    product_id: ProductId
    quantity: JsonInt = Field(ge=1, le=MAX_QUANTITY_PER_ITEM)


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_ITEMS_PER_ORDER)

    @model_validator(mode="after")
    def _one_line_per_product(self) -> OrderIn:
        """Lines for the same product are added up into one. The schema cannot say "unique by
        product_id", so refusing them would refuse a request the schema allows."""
        merged: dict[int, int] = {}
        for item in self.items:
            merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
        if len(merged) != len(self.items):
            self.items = [
                OrderItemIn.model_construct(product_id=pid, quantity=qty)
                for pid, qty in merged.items()
            ]
        return self


class OrderItemOut(BaseModel):
    product_id: int
    quantity: int
    unit_price: Decimal
    line_total: Decimal


class OrderOut(BaseModel):
    id: int
    total: Decimal
    created_at: datetime
    items: list[OrderItemOut]


class OrderList(BaseModel):
    items: list[OrderOut]


class HealthCheck(BaseModel):
    component: str
    status: str  # "up" | "down"
    latency_ms: float | None = None
    error: str | None = None


class Health(BaseModel):
    status: str  # "ok" (live), "ready" or "degraded" (ready)
    checks: list[HealthCheck] = []
