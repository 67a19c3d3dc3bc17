"""The stock keeper restocks what runs low, and the cache never serves the old figure after."""

import httpx
import redis
from fastapi import FastAPI

from faultline.cache import product_key
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
