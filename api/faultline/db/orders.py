"""Order queries. The caller owns the transaction (see services.orders)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from faultline.db.models import Order, OrderItem


async def get_order(order_id: int) -> Order | None:
    return await Order.get_or_none(id=order_id).prefetch_related("items")


async def get_order_by_idempotency_key(key: str) -> Order | None:
    return await Order.get_or_none(idempotency_key=key).prefetch_related("items")


async def recent_orders(limit: int) -> list[Order]:
    return await Order.all().order_by("-id").limit(limit).prefetch_related("items")


async def insert_order(
    total: Decimal,
    lines: Sequence[tuple[int, int, Decimal]],
    idempotency_key: str | None,
    request_fingerprint: str | None,
) -> Order:
    """Insert an order and its items ((product_id, quantity, unit_price) each)."""
    order = await Order.create(
        total=total, idempotency_key=idempotency_key, request_fingerprint=request_fingerprint
    )
    await OrderItem.bulk_create(
        [
            OrderItem(order_id=order.id, product_id=pid, quantity=qty, unit_price=price)
            for pid, qty, price in lines
        ]
    )
    await order.fetch_related("items")
    return order
