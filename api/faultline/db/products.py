"""Product queries. Nothing here knows about HTTP or the cache."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from faultline.db.models import Product


async def get_product(product_id: int) -> Product | None:
    return await Product.get_or_none(id=product_id)


async def list_products(
    limit: int, offset: int, name_contains: str | None
) -> tuple[list[Product], int]:
    query = Product.all()
    if name_contains:
        query = query.filter(name__icontains=name_contains)
    page = await query.order_by("id").offset(offset).limit(limit)
    total = await query.count()
    return page, total


async def prices_of(product_ids: Sequence[int]) -> dict[int, Decimal]:
    rows = await Product.filter(id__in=list(product_ids)).values_list("id", "price")
    return {int(pid): Decimal(price) for pid, price in rows}


async def take_stock(product_id: int, quantity: int) -> bool:
    """Atomically decrement stock if enough is left. False when it is not (nothing changes).

    A single conditional UPDATE: concurrent orders can never take the same unit twice, and the
    row lock it takes lasts only until the surrounding transaction ends.
    """
    updated = await Product.filter(id=product_id, stock__gte=quantity).update(
        stock=F("stock") - quantity
    )
    return bool(updated)


async def restock_below(low_water_mark: int, restock_level: int) -> list[int]:
    """Bring every product under the low-water mark back to the restock level; their ids.

    The rows are locked first, in id order (SELECT ... ORDER BY id FOR UPDATE), as order placement
    locks them (services.orders.price_lines): an UPDATE alone locks in whatever order it scans
    the table, and an order holding one row while the restock holds another would deadlock.
    """
    async with in_transaction():
        # (values_list() would drop the FOR UPDATE: Tortoise adds it to model queries only.)
        locked = (
            await Product.filter(stock__lt=low_water_mark)
            .order_by("id")
            .select_for_update()
            .only("id")
        )
        ids = [product.id for product in locked]
        if ids:
            await Product.filter(id__in=ids, stock__lt=low_water_mark).update(stock=restock_level)
    return ids


async def count_products() -> int:
    return await Product.all().count()


async def insert_missing(products: Sequence[Product]) -> None:
    """Insert products whose sku is not there yet (seeding is idempotent)."""
    await Product.bulk_create(list(products), ignore_conflicts=True, batch_size=500)
