"""GET /api/v1/products and /products/{id} against real PostgreSQL and Redis."""

from decimal import Decimal

import httpx

from tests.integration.conftest import SEEDED_PRODUCTS, ProductFactory


async def test_list_paginates_in_id_order(client: httpx.AsyncClient) -> None:
    first = (await client.get("/api/v1/products", params={"limit": 5})).json()
    second = (await client.get("/api/v1/products", params={"limit": 5, "offset": 5})).json()
    assert [p["id"] for p in first["items"]] == sorted(p["id"] for p in first["items"])
    assert len(first["items"]) == 5 and len(second["items"]) == 5
    assert first["items"][-1]["id"] < second["items"][0]["id"]
    assert first["total"] >= SEEDED_PRODUCTS
    assert (first["limit"], first["offset"]) == (5, 0)


async def test_default_page_and_money_as_exact_strings(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/v1/products")).json()
    assert page["limit"] == 20 and len(page["items"]) == 20
    for product in page["items"]:
        assert isinstance(product["price"], str)
        assert Decimal(product["price"]) == Decimal(product["price"]).quantize(Decimal("0.01"))


async def test_name_search_is_case_insensitive(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    made = await make_product(name="Zanzibar Teapot Deluxe")
    found = (await client.get("/api/v1/products", params={"q": "zANZIBAR teapot"})).json()
    assert [p["id"] for p in found["items"]] == [made.id]
    assert found["total"] == 1
    none = (await client.get("/api/v1/products", params={"q": "no-such-thing-xyz"})).json()
    assert none == {"items": [], "total": 0, "limit": 20, "offset": 0}


async def test_offset_past_the_end_is_an_empty_page(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/v1/products", params={"offset": 1_000_000})).json()
    assert page["items"] == [] and page["total"] >= SEEDED_PRODUCTS


async def test_get_product(client: httpx.AsyncClient, make_product: ProductFactory) -> None:
    made = await make_product(stock=7, price="12.50")
    response = await client.get(f"/api/v1/products/{made.id}")
    assert response.status_code == 200
    assert response.json() == {
        "id": made.id,
        "sku": made.sku,
        "name": made.name,
        "description": "made by a test",
        "price": "12.50",
        "stock": 7,
    }


async def test_unknown_product_is_404_with_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/products/2147483000")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "2147483000" in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
