"""POST/GET /api/v1/orders: transactions, stock, idempotency, concurrency."""

import asyncio
import uuid
from decimal import Decimal

import asyncpg
import httpx

from faultline.db.models import Order, Product
from tests.integration.conftest import ProductFactory


def order_body(*lines: tuple[int, int]) -> dict[str, object]:
    return {"items": [{"product_id": pid, "quantity": qty} for pid, qty in lines]}


async def test_place_order_prices_in_decimal_and_takes_stock(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    a = await make_product(stock=10, price="0.10")
    b = await make_product(stock=5, price="19.99")
    response = await client.post("/api/v1/orders", json=order_body((a.id, 3), (b.id, 2)))
    assert response.status_code == 201, response.text
    order = response.json()
    # 3 x 0.10 + 2 x 19.99 = 40.28 exactly (a float would say 40.279999...)
    assert order["total"] == "40.28"
    assert [
        (i["product_id"], i["quantity"], i["unit_price"], i["line_total"]) for i in order["items"]
    ] == [
        (a.id, 3, "0.10", "0.30"),
        (b.id, 2, "19.99", "39.98"),
    ]
    assert response.headers["location"] == f"/api/v1/orders/{order['id']}"
    assert (await Product.get(id=a.id)).stock == 7
    assert (await Product.get(id=b.id)).stock == 3

    fetched = await client.get(f"/api/v1/orders/{order['id']}")
    assert fetched.status_code == 200 and fetched.json() == order


async def test_insufficient_stock_is_409_and_changes_nothing(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    plenty = await make_product(stock=100)
    scarce = await make_product(stock=1)
    orders_before = await Order.all().count()
    response = await client.post("/api/v1/orders", json=order_body((plenty.id, 5), (scarce.id, 2)))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_stock"
    # The whole transaction rolled back: the first line's stock was not taken either.
    assert (await Product.get(id=plenty.id)).stock == 100
    assert (await Product.get(id=scarce.id)).stock == 1
    assert await Order.all().count() == orders_before


async def test_unknown_product_in_order_is_422(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    real = await make_product(stock=5)
    response = await client.post("/api/v1/orders", json=order_body((real.id, 1), (2147480000, 1)))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["product_ids"] == [2147480000]
    assert (await Product.get(id=real.id)).stock == 5


async def test_concurrent_orders_never_oversell(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    stock = 7
    product = await make_product(stock=stock)
    attempts = 60
    responses = await asyncio.gather(
        *(client.post("/api/v1/orders", json=order_body((product.id, 1))) for _ in range(attempts))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == stock
    assert statuses.count(409) == attempts - stock
    assert (await Product.get(id=product.id)).stock == 0
    assert await Order.filter(items__product_id=product.id).count() == stock


async def test_idempotent_retry_returns_the_first_order(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    key = f"retry-{uuid.uuid4()}"
    headers = {"Idempotency-Key": key}
    first = await client.post("/api/v1/orders", json=order_body((product.id, 2)), headers=headers)
    second = await client.post("/api/v1/orders", json=order_body((product.id, 2)), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert (await Product.get(id=product.id)).stock == 8
    assert await Order.filter(idempotency_key=key).count() == 1


async def test_concurrent_retries_with_one_key_create_one_order(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product(stock=50)
    headers = {"Idempotency-Key": f"storm-{uuid.uuid4()}"}
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
            for _ in range(20)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert (await Product.get(id=product.id)).stock == 49


async def test_a_retry_that_loses_the_race_for_the_last_stock_gets_the_first_order(
    client: httpx.AsyncClient, make_product: ProductFactory, database_url: str
) -> None:
    """Found by tests/hardening: a client times out while its order waits on a row lock and
    retries with the same key; the first attempt takes the last stock and commits, and the
    retry, which was already past the replay check, ran out of stock. It must answer with the
    order that now exists under its key (201, replayed), not 409 for an order that was placed."""
    product = await make_product(stock=2)
    headers = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    body = order_body((product.id, 2))
    blocker = await asyncpg.connect(database_url)
    try:
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("SELECT 1 FROM products WHERE id = $1 FOR UPDATE", product.id)
        first = asyncio.create_task(client.post("/api/v1/orders", json=body, headers=headers))
        await asyncio.sleep(0.3)  # first attempt now waits for the row
        retry = asyncio.create_task(client.post("/api/v1/orders", json=body, headers=headers))
        await asyncio.sleep(0.3)  # so does the retry, queued behind it
        await holding.commit()
        responses = await asyncio.gather(first, retry)
    finally:
        await blocker.close()
    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert responses[1].headers["idempotent-replayed"] == "true"
    assert (await Product.get(id=product.id)).stock == 0


async def test_idempotency_key_reused_for_a_different_order_is_refused(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10)
    headers = {"Idempotency-Key": f"reuse-{uuid.uuid4()}"}
    assert (
        await client.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    ).status_code == 201
    response = await client.post(
        "/api/v1/orders", json=order_body((product.id, 3)), headers=headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert (await Product.get(id=product.id)).stock == 9


async def test_failed_order_does_not_burn_its_key(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product(stock=1)
    headers = {"Idempotency-Key": f"fail-{uuid.uuid4()}"}
    body = order_body((product.id, 2))
    assert (await client.post("/api/v1/orders", json=body, headers=headers)).status_code == 409
    await Product.filter(id=product.id).update(stock=5)
    assert (await client.post("/api/v1/orders", json=body, headers=headers)).status_code == 201


async def test_recent_orders_newest_first_with_items(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product(stock=10, price="2.00")
    ids = []
    for qty in (1, 2, 3):
        ids.append(
            (await client.post("/api/v1/orders", json=order_body((product.id, qty)))).json()["id"]
        )
    recent = (await client.get("/api/v1/orders", params={"limit": 3})).json()["items"]
    assert [o["id"] for o in recent] == ids[::-1]
    assert [o["items"][0]["quantity"] for o in recent] == [3, 2, 1]
    assert [Decimal(o["total"]) for o in recent] == [
        Decimal("6.00"),
        Decimal("4.00"),
        Decimal("2.00"),
    ]


async def test_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/orders/2147483600")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
