"""Integration fixtures: one real PostgreSQL + Redis and one in-process app for the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from faultline.config import Settings
from faultline.db.models import Product
from faultline.faults.catalogue import CATALOGUE
from faultline.faults.runtime import RUNTIME
from faultline.faults.store import FaultStore
from faultline.main import create_app
from labkit.api import prepare_database
from labkit.servers import Postgres, Redis

SEEDED_PRODUCTS = 60


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


class FaultSwitch:
    """Turns faults on and off through the real store (Redis), then syncs this process's runtime
    at once instead of waiting for the next tick."""

    def __init__(self, store: FaultStore) -> None:
        self.store = store

    async def on(self, name: str, ttl_seconds: int = 120, **params: object) -> None:
        validated = CATALOGUE[name].params.model_validate(params).model_dump(mode="json")
        await self.store.enable(name, validated, ttl_seconds)
        await RUNTIME.sync_once(grace=5)
        assert RUNTIME.get(name) is not None

    async def off(self, name: str) -> None:
        await self.store.disable(name)
        await RUNTIME.sync_once(grace=5)
        assert RUNTIME.get(name) is None

    async def heal(self) -> None:
        await self.store.disable_all()
        await RUNTIME.sync_once(grace=5)


@pytest.fixture
async def faults(app: FastAPI) -> AsyncIterator[FaultSwitch]:
    switch = FaultSwitch(FaultStore(app.state.redis))
    await switch.heal()
    yield switch
    await switch.heal()
