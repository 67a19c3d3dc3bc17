"""Hardening fixtures: the real API as a uvicorn process (as it runs in the stack) on a database
of its own, and fault switching through the real fault store (Redis), as the control service
does it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis as AsyncRedis

from faultline.faults.catalogue import CATALOGUE
from faultline.faults.store import FaultStore
from labkit.api import prepare_database, running_api
from labkit.servers import Postgres, Redis
from tests.support.metrics import parse, value

pytestmark = pytest.mark.slow

# Each hardening API gets its own Redis database, so its faults and cache touch nothing else.
HARDENING_REDIS_DB = 7
SEEDED_PRODUCTS = 200  # the hardening database's catalogue


@dataclass
class HardeningApi:
    url: str
    database_url: str
    log_path: Path


def api_env(database_url: str, redis_server: Redis, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url(redis_server),
        "STOCK_REPLENISH_INTERVAL_SECONDS": "0",  # stock is counted exactly
        "OTEL_SDK_DISABLED": "true",
        "LOG_LEVEL": "warning",
        "DB_ACQUIRE_TIMEOUT_SECONDS": "1",
        **extra,
    }


def redis_url(redis_server: Redis) -> str:
    return redis_server.url.rsplit("/", 1)[0] + f"/{HARDENING_REDIS_DB}"


@pytest.fixture(scope="session")
def hardening_database(real_servers: tuple[Postgres, Redis]) -> str:
    url = asyncio.run(real_servers[0].create_database("faultline_hardening"))
    prepare_database(url, catalogue_size=SEEDED_PRODUCTS)
    return url


@pytest.fixture(scope="module")
def hardening_api(
    hardening_database: str, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HardeningApi]:
    log_path = tmp_path_factory.mktemp("hardening-api") / "api.log"
    with running_api(api_env(hardening_database, redis_server), log_path) as url:
        yield HardeningApi(url, hardening_database, log_path)


class Faults:
    """Turns faults on and off in the store and waits until the API process reports them
    (its `fault_active` gauge), so a phase never starts before the fault is really on."""

    def __init__(self, store: FaultStore, api_url: str) -> None:
        self.store = store
        self.api_url = api_url

    async def on(self, name: str, **params: object) -> None:
        validated = CATALOGUE[name].params.model_validate(params).model_dump(mode="json")
        await self.store.enable(name, validated, ttl_seconds=300)
        await self._wait(name, 1.0)

    async def off(self, name: str) -> None:
        await self.store.disable(name)
        await self._wait(name, 0.0)

    async def heal(self) -> None:
        for name in await self.store.disable_all():
            await self._wait(name, 0.0)

    async def _wait(self, name: str, expected: float) -> None:
        deadline = time.monotonic() + 10
        async with httpx.AsyncClient(base_url=self.api_url, timeout=5) as http:
            while True:
                samples = parse((await http.get("/metrics")).text)
                if value(samples, "fault_active", {"fault": name}) == expected:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"API did not report fault {name} = {expected}")
                await asyncio.sleep(0.1)


@pytest.fixture
async def fault_store(redis_server: Redis) -> AsyncIterator[FaultStore]:
    client = AsyncRedis.from_url(redis_url(redis_server))
    store = FaultStore(client)
    await store.disable_all()
    try:
        yield store
    finally:
        await store.disable_all()
        await client.aclose()


@pytest.fixture
async def faults(hardening_api: HardeningApi, fault_store: FaultStore) -> AsyncIterator[Faults]:
    switch = Faults(fault_store, hardening_api.url)
    try:
        yield switch
    finally:
        await switch.heal()
