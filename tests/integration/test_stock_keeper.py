"""The stock keeper restocks what runs low, and the cache never serves the old figure after."""

import asyncio

import asyncpg
import httpx
import pytest
import redis
from fastapi import FastAPI

from faultline.cache import product_key
from faultline.db import products as product_queries
from faultline.db.models import Product
from faultline.services.stock import StockKeeper
from tests.integration.conftest import ProductFactory


async def test_low_products_are_restocked_and_their_cache_dropped(
    app: FastAPI,
    client: httpx.AsyncClient,
    redis_client: redis.Redis,
    make_product: ProductFactory,
) -> None:
    low = await make_product(stock=3)
    healthy = await make_product(stock=400)
    await client.get(f"/api/v1/products/{low.id}")  # cached with stock 3
    keeper = StockKeeper(app.state.cache, interval=0, low_water=20, restock_to=500)

    restocked = await keeper.replenish_once()

    assert low.id in restocked and healthy.id not in restocked
    assert (await Product.get(id=low.id)).stock == 500
    assert (await Product.get(id=healthy.id)).stock == 400
    assert not redis_client.exists(product_key(low.id))
    assert (await client.get(f"/api/v1/products/{low.id}")).json()["stock"] == 500
    assert await keeper.replenish_once() == []  # idempotent: nothing left below the mark


async def test_a_sold_out_product_comes_back(
    app: FastAPI, client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product(stock=2)
    body = {"items": [{"product_id": product.id, "quantity": 2}]}
    assert (await client.post("/api/v1/orders", json=body)).status_code == 201
    assert (await client.post("/api/v1/orders", json=body)).status_code == 409
    await StockKeeper(app.state.cache, interval=0, low_water=20, restock_to=50).replenish_once()
    assert (await client.post("/api/v1/orders", json=body)).status_code == 201


async def test_restock_locks_rows_in_id_order_as_orders_do(
    app: FastAPI, make_product: ProductFactory, database_url: str
) -> None:
    """Order placement locks its rows in id order; the restock must too, or an order holding one
    row while the restock holds another deadlocks (PostgreSQL then fails one of them: a 500).
    Here `low` sits physically after `high` (an update moves a row to the end of the table), and
    another transaction holds `high`: a restock taking rows in id order already holds `low`."""
    low, high = await make_product(stock=0), await make_product(stock=0)
    holder, prober = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    restock = None
    try:
        await holder.execute("UPDATE products SET name = name || '' WHERE id = $1", low.id)
        await holder.execute("BEGIN")
        await holder.execute("SELECT 1 FROM products WHERE id = $1 FOR UPDATE", high.id)
        restock = asyncio.create_task(product_queries.restock_below(1, 500))
        await asyncio.sleep(0.5)  # the restock is waiting for `high` by now
        assert not restock.done()
        with pytest.raises(asyncpg.LockNotAvailableError):
            await prober.execute("SELECT 1 FROM products WHERE id = $1 FOR UPDATE NOWAIT", low.id)
    finally:
        await holder.execute("ROLLBACK")
        if restock is not None:
            restocked = await asyncio.wait_for(restock, 10)
            assert {low.id, high.id} <= set(restocked)
        await holder.close()
        await prober.close()
