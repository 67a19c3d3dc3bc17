"""Integration fixtures: one real PostgreSQL + Redis and one in-process app for the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal

import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from faultline.config import Settings
from faultline.db.models import Product
from faultline.main import create_app
from tests.support.api import prepare_database
from tests.support.servers import Postgres, Redis, servers

SEEDED_PRODUCTS = 60


@pytest.fixture(scope="session")
def real_servers() -> Iterator[tuple[Postgres, Redis]]:
    with servers() as pair:
        yield pair


@pytest.fixture(scope="session")
def redis_server(real_servers: tuple[Postgres, Redis]) -> Redis:
    return real_servers[1]


@pytest.fixture(scope="session")
async def database_url(real_servers: tuple[Postgres, Redis]) -> str:
    url = await real_servers[0].create_database(f"faultline_test_{os.getpid()}")
    prepare_database(url, SEEDED_PRODUCTS)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str, redis_server: Redis) -> Settings:
    redis_server.client().flushdb()
    return Settings(
        environment="test",
        database_url=database_url,
        redis_url=redis_server.url,  # type: ignore[arg-type]
        stock_replenish_interval_seconds=0,  # tests count stock exactly
        otel_sdk_disabled=True,  # traces are tested against a separate API process (test_tracing)
        db_pool_max_size=10,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as http:
        yield http


@pytest.fixture
def redis_client(redis_server: Redis) -> redis.Redis:
    return redis_server.client()


ProductFactory = Callable[..., Awaitable[Product]]


@pytest.fixture
def make_product(app: FastAPI) -> ProductFactory:
    """Create a product of the test's own (unique sku), e.g. with very little stock."""

    async def factory(stock: int = 10, price: str = "9.99", name: str | None = None) -> Product:
        sku = f"T-{uuid.uuid4().hex[:12]}"
        return await Product.create(
            sku=sku,
            name=name or f"Test product {sku}",
            description="made by a test",
            price=Decimal(price),
            stock=stock,
        )

    return factory
