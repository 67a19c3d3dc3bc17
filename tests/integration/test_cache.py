"""Cache-aside on product reads, observed in the real Redis."""

import json

import httpx
import redis

from faultline.cache import product_key
from faultline.db.models import Product
from tests.integration.conftest import ProductFactory


async def test_miss_then_hit_serves_from_redis(
    client: httpx.AsyncClient, redis_client: redis.Redis, make_product: ProductFactory
) -> None:
    product = await make_product(stock=4)
    key = product_key(product.id)
    assert redis_client.get(key) is None
    first = (await client.get(f"/api/v1/products/{product.id}")).json()  # miss: fills the cache
    cached = redis_client.get(key)
    assert cached is not None and json.loads(cached)["stock"] == 4
    assert 0 < redis_client.ttl(key) <= 60

    # Change the row behind the cache's back: a hit still serves the cached copy.
    await Product.filter(id=product.id).update(stock=99)
    second = (await client.get(f"/api/v1/products/{product.id}")).json()
    assert second == first


async def test_placing_an_order_invalidates_the_cached_product(
    client: httpx.AsyncClient, redis_client: redis.Redis, make_product: ProductFactory
) -> None:
    product = await make_product(stock=4)
    await client.get(f"/api/v1/products/{product.id}")
    assert redis_client.exists(product_key(product.id))
    placed = await client.post(
        "/api/v1/orders", json={"items": [{"product_id": product.id, "quantity": 3}]}
    )
    assert placed.status_code == 201
    assert not redis_client.exists(product_key(product.id))
    assert (await client.get(f"/api/v1/products/{product.id}")).json()["stock"] == 1


async def test_unknown_products_are_not_cached(
    client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    assert (await client.get("/api/v1/products/2147483001")).status_code == 404
    assert not redis_client.exists(product_key(2147483001))
