"""Order queries. The caller owns the transaction (see services.orders)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from faultline.db.models import Order, OrderItem


async def get_order(order_id: int) -> Order | None:
    return await Order.get_or_none(id=order_id).prefetch_related("items")


async def get_order_by_idempotency_key(key: str) -> Order | None:
    return await Order.get_or_none(idempotency_key=key).prefetch_related("items")


async def recent_orders(
    limit: int, *, one_query_per_item: bool = False
) -> list[tuple[Order, list[OrderItem]]]:
    """The newest orders with their items: two queries, or, with `one_query_per_item` (the
    n_plus_one fault), the N+1 pattern on purpose: item ids per order, then each item alone."""
    if not one_query_per_item:
        orders = await Order.all().order_by("-id").limit(limit).prefetch_related("items")
        return [(order, list(order.items)) for order in orders]
    result = []
    for order in await Order.all().order_by("-id").limit(limit):
        item_ids = await OrderItem.filter(order_id=order.id).values_list("id", flat=True)
        result.append((order, [await OrderItem.get(id=item_id) for item_id in item_ids]))
    return result


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
