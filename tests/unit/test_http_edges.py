"""Middleware and error handling, exercised through the app without any database.

Only routes that never reach PostgreSQL or Redis are called (the app's lifespan is not run).
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from faultline.config import Settings
from faultline.main import create_app


@pytest.fixture
def app() -> FastAPI:
    return create_app(Settings(environment="test", max_request_body_bytes=2048))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as http:
        yield http


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert len(response.headers["x-request-id"]) == 32


async def test_unknown_route_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere", headers={"X-Request-ID": "abc-1"})
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not Found", "request_id": "abc-1"}
    }


async def test_body_limit_comes_from_settings(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/orders", content=b"x" * 3000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_docs_are_off_in_production() -> None:
    production = create_app(Settings(environment="production"))
    transport = httpx.ASGITransport(app=production)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as http:
        assert (await http.get("/docs")).status_code == 404
        assert (await http.get("/openapi.json")).status_code == 404
    development = create_app(Settings(environment="development"))
    transport = httpx.ASGITransport(app=development)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as http:
        assert (await http.get("/openapi.json")).status_code == 200
