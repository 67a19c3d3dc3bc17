"""Placing and reading orders.

Placing an order is one transaction: price every line, take stock for each (a conditional
UPDATE that can never go below zero), insert the order. With an Idempotency-Key, the first
successful request is the answer to every retry; a key reused for a different order is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from opentelemetry import trace
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from faultline import hooks
from faultline.cache import ProductCache
from faultline.db import orders as order_queries
from faultline.db import products as product_queries
from faultline.db.models import Order, OrderItem
from faultline.errors import InsufficientStock, InvalidRequest, NotFound
from faultline.schemas import OrderIn, OrderItemOut, OrderOut
from faultline.telemetry.metrics import ORDER_VALUE, ORDERS_CREATED, STOCKOUTS
from faultline.telemetry.spans import operation_span

CENT = Decimal("0.01")
tracer = trace.get_tracer(__name__)


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"


def fingerprint(order: OrderIn) -> str:
    """A stable hash of what was ordered, independent of line order."""
    lines = sorted((item.product_id, item.quantity) for item in order.items)
    return hashlib.sha256(json.dumps(lines).encode()).hexdigest()


def price_lines(
    order: OrderIn, prices: Mapping[int, Decimal]
) -> tuple[list[tuple[int, int, Decimal]], Decimal]:
    """(product_id, quantity, unit_price) per line, sorted by product id, and the order total.

    Sorting gives every transaction the same lock order, so concurrent orders cannot deadlock.
    """
    unknown = sorted(item.product_id for item in order.items if item.product_id not in prices)
    if unknown:
        raise InvalidRequest(
            f"Unknown product(s): {', '.join(map(str, unknown))}",
            details=[{"loc": ["body", "items"], "msg": "unknown product", "product_ids": unknown}],
        )
    lines = sorted((i.product_id, i.quantity, prices[i.product_id]) for i in order.items)
    total = sum((price * qty for _, qty, price in lines), Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    return lines, total


def order_out(order: Order, items: Iterable[OrderItem] | None = None) -> OrderOut:
    items = sorted(order.items if items is None else items, key=lambda i: i.product_id)
    return OrderOut(
        id=order.id,
        total=order.total,
        created_at=order.created_at,
        items=[
            OrderItemOut(
                product_id=i.product_id,
                quantity=i.quantity,
                unit_price=i.unit_price,
                line_total=(i.unit_price * i.quantity).quantize(CENT, ROUND_HALF_UP),
            )
            for i in items
        ],
    )


class OrderService:
    def __init__(self, cache: ProductCache) -> None:
        self._cache = cache

    async def place_order(
        self, order: OrderIn, idempotency_key: str | None
    ) -> tuple[OrderOut, bool]:
        """The order, and whether it is a replay of an earlier request with the same key."""
        with operation_span(tracer, "place order") as span:
            span.set_attribute("shop.order.lines", len(order.items))
            span.set_attribute("shop.order.idempotent", idempotency_key is not None)
            try:
                placed, replayed = await self._place(order, idempotency_key)
            except InsufficientStock:
                STOCKOUTS.inc()
                raise
            span.set_attribute("shop.order.id", placed.id)
            span.set_attribute("shop.order.replayed", replayed)
            if not replayed:
                ORDERS_CREATED.inc()
                ORDER_VALUE.observe(float(placed.total))
            return placed, replayed

    async def _place(self, order: OrderIn, idempotency_key: str | None) -> tuple[OrderOut, bool]:
        request_fingerprint = fingerprint(order) if idempotency_key else None
        if idempotency_key:
            replay = await self._replay(idempotency_key, request_fingerprint)
            if replay is not None:
                return replay, True
        try:
            created = await self._create(order, idempotency_key, request_fingerprint)
        except (IntegrityError, InsufficientStock):
            # A concurrent request with the same key (a client's retry after a timeout, say)
            # committed while this one waited: its insert clashed on the key, or it took the
            # stock this one needed. Either way the order exists: answer with it.
            if idempotency_key:
                replay = await self._replay(idempotency_key, request_fingerprint)
                if replay is not None:
                    return replay, True
            raise
        await self._cache.invalidate(item.product_id for item in order.items)
        return order_out(created), False

    async def _create(
        self, order: OrderIn, idempotency_key: str | None, request_fingerprint: str | None
    ) -> Order:
        product_ids = [item.product_id for item in order.items]
        async with in_transaction():
            await hooks.current().in_order_transaction()  # the seam lock_contention uses
            prices = await product_queries.prices_of(product_ids)
            lines, total = price_lines(order, prices)
            for product_id, quantity, _ in lines:
                if not await product_queries.take_stock(product_id, quantity):
                    raise InsufficientStock(
                        f"Not enough stock for product {product_id}",
                        details=[{"product_id": product_id, "requested": quantity}],
                    )
            return await order_queries.insert_order(
                total, lines, idempotency_key, request_fingerprint
            )

    async def _replay(self, key: str, request_fingerprint: str | None) -> OrderOut | None:
        existing = await order_queries.get_order_by_idempotency_key(key)
        if existing is None:
            return None
        if existing.request_fingerprint != request_fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used for a different order"
            )
        return order_out(existing)

    async def get_order(self, order_id: int) -> OrderOut:
        order = await order_queries.get_order(order_id)
        if order is None:
            raise NotFound(f"Order {order_id} not found")
        return order_out(order)

    async def recent_orders(self, limit: int) -> Sequence[OrderOut]:
        one_by_one = hooks.current().one_query_per_order_item()  # the seam n_plus_one uses
        rows = await order_queries.recent_orders(limit, one_query_per_item=one_by_one)
        return [order_out(order, items) for order, items in rows]
