"""Bad input on every endpoint gets a clear 4xx in the one error shape; never a 500."""

from typing import Any

import httpx
import pytest

from faultline.schemas import MAX_ITEMS_PER_ORDER
from tests.integration.conftest import ProductFactory

ORDERS = "/api/v1/orders"


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    if code:
        assert error["code"] == code
    text = response.text.lower()
    for leak in ("traceback", "select ", "insert ", "asyncpg", "tortoise", 'file "'):
        assert leak not in text
    return dict(error)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/products?limit=0",
        "/api/v1/products?limit=101",
        "/api/v1/products?limit=99999999999999999999",
        "/api/v1/products?limit=ten",
        "/api/v1/products?offset=-1",
        "/api/v1/products?offset=1000001",
        "/api/v1/products?q=",
        "/api/v1/products?q=" + "x" * 101,
        "/api/v1/products/0",
        "/api/v1/products/-5",
        "/api/v1/products/abc",
        "/api/v1/products/1.5",
        "/api/v1/products/99999999999",  # beyond PostgreSQL's integer
        "/api/v1/orders?limit=0",
        "/api/v1/orders?limit=51",
        "/api/v1/orders/0",
        "/api/v1/orders/abc",
        "/api/v1/orders/99999999999",
    ],
)
async def test_bad_query_and_path_parameters_are_422(client: httpx.AsyncClient, path: str) -> None:
    error = assert_error(await client.get(path), 422, "validation_error")
    assert error["details"] and "loc" in error["details"][0]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": []},
        {"items": "three"},
        {"items": [{"product_id": 1}]},
        {"items": [{"product_id": 1, "quantity": 0}]},
        {"items": [{"product_id": 1, "quantity": -3}]},
        {"items": [{"product_id": 1, "quantity": 101}]},
        {"items": [{"product_id": 1, "quantity": 1.5}]},
        {"items": [{"product_id": 1, "quantity": "2"}, {"product_id": 1, "quantity": 1}]},
        {"items": [{"product_id": "one", "quantity": 1}]},
        {"items": [{"product_id": 0, "quantity": 1}]},
        {"items": [{"product_id": 2**40, "quantity": 1}]},
        {"items": [{"product_id": 1, "quantity": 1, "discount": "100%"}]},
        {"items": [{"product_id": i, "quantity": 1} for i in range(1, MAX_ITEMS_PER_ORDER + 2)]},
        [1, 2, 3],
        "order please",
        None,
    ],
)
async def test_invalid_order_bodies_are_422(client: httpx.AsyncClient, body: Any) -> None:
    assert_error(await client.post(ORDERS, json=body), 422, "validation_error")


async def test_two_lines_for_one_product_make_one_order_line(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    """A body the OpenAPI schema allows is not refused: the lines are added up."""
    product = await make_product(stock=10)
    body = {
        "items": [
            {"product_id": product.id, "quantity": 1},
            {"product_id": product.id, "quantity": 2},
        ]
    }
    response = await client.post(ORDERS, json=body)
    assert response.status_code == 201, response.text
    assert [(i["product_id"], i["quantity"]) for i in response.json()["items"]] == [(product.id, 3)]


@pytest.mark.parametrize("raw", [b"{bad json", b'{"items": [', b"\xff\xfe", b"{'items': []}"])
async def test_malformed_json_is_400(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(ORDERS, content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, "malformed_json")


async def test_body_without_json_content_type_is_a_4xx(client: httpx.AsyncClient) -> None:
    response = await client.post(ORDERS, content=b"items=1", headers={"content-type": "text/plain"})
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)


async def test_oversized_body_with_content_length_is_413(client: httpx.AsyncClient) -> None:
    huge = {"items": [{"product_id": 1, "quantity": 1}], "pad": "x" * 70_000}
    assert_error(await client.post(ORDERS, json=huge), 413, "payload_too_large")


async def test_oversized_streamed_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: chunked upload
        for _ in range(20):
            yield b"x" * 8192

    response = await client.post(
        ORDERS, content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("key", ["", "x" * 201, "has space", "tab\there", "é"])
async def test_bad_idempotency_keys_are_422(client: httpx.AsyncClient, key: str) -> None:
    body = {"items": [{"product_id": 1, "quantity": 1}]}
    response = await client.post(
        ORDERS, json=body, headers={"Idempotency-Key": key.encode("utf-8")}
    )  # type: ignore[dict-item]
    assert_error(response, 422, "validation_error")


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(await client.delete("/api/v1/products/1"), 405, "method_not_allowed")
    # GET and POST /orders are two routes; Allow names both (found by schemathesis).
    wrong = await client.patch(ORDERS, json={})
    assert_error(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET, POST"


async def test_incoming_request_id_is_honoured_when_well_formed(client: httpx.AsyncClient) -> None:
    ok = await client.get("/api/v1/products/0", headers={"X-Request-ID": "trace-me-123"})
    assert ok.headers["x-request-id"] == "trace-me-123"
    assert ok.json()["error"]["request_id"] == "trace-me-123"
    bad = await client.get("/api/v1/products/0", headers={"X-Request-ID": "no spaces <allowed>"})
    assert bad.headers["x-request-id"] != "no spaces <allowed>"
    assert len(bad.headers["x-request-id"]) == 32
