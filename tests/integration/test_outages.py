"""Readiness and errors when PostgreSQL or Redis is stopped for real, and recovery after.

These tests own their servers (started for this module only) and run the API as a separate
uvicorn process, exactly as it runs in the stack, so that stopping a server affects nothing else.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest

from labkit.api import prepare_database, running_api
from labkit.servers import Postgres, Redis, servers
from tests.support.figures import record
from tests.support.metrics import parse, value

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own_servers() -> Iterator[tuple[Postgres, Redis]]:
    with servers(controllable=True) as pair:
        yield pair


@pytest.fixture(scope="module")
def api_url(
    own_servers: tuple[Postgres, Redis], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    postgres, redis_server = own_servers
    import asyncio

    url = asyncio.run(postgres.create_database("faultline_outage"))
    prepare_database(url, catalogue_size=20)
    env = {
        "DATABASE_URL": url,
        "REDIS_URL": redis_server.url,
        "STOCK_REPLENISH_INTERVAL_SECONDS": "0",
        "DB_ACQUIRE_TIMEOUT_SECONDS": "1",
    }
    with running_api(env, tmp_path_factory.mktemp("api") / "api.log") as base_url:
        yield base_url


def wait_until(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def test_postgres_down_gives_fast_503s_and_recovers(
    own_servers: tuple[Postgres, Redis], api_url: str
) -> None:
    postgres = own_servers[0]
    with httpx.Client(base_url=api_url, timeout=10) as http:
        assert http.get("/api/v1/products/3").status_code == 200
        postgres.stop()
        try:
            ready = http.get("/health/ready")
            assert ready.status_code == 503
            error = ready.json()["error"]
            assert error["code"] == "not_ready" and "postgres" in error["message"]
            checks = {c["component"]: c["status"] for c in error["details"]}
            assert checks == {"postgres": "down", "redis": "up"}

            for path in (
                "/api/v1/products?limit=2",
                "/api/v1/orders?limit=2",
                "/api/v1/products/9",
            ):
                started = time.monotonic()
                response = http.get(path)
                elapsed = time.monotonic() - started
                # /products/9 was never cached; all of these need the database.
                assert response.status_code == 503, (path, response.text)
                assert response.json()["error"]["code"] in {
                    "database_unavailable",
                    "db_pool_exhausted",
                }
                assert "retry-after" in response.headers
                assert elapsed < 3.0, f"{path} took {elapsed:.2f}s with PostgreSQL down"
            # A cached product still reads from Redis while PostgreSQL is down.
            assert http.get("/api/v1/products/3").status_code == 200
        finally:
            postgres.start()
        # Recovery without restarting the API.
        wait_until(lambda: http.get("/health/ready").status_code == 200)
        wait_until(lambda: http.get("/api/v1/products?limit=2").status_code == 200)
        placed = http.post("/api/v1/orders", json={"items": [{"product_id": 4, "quantity": 1}]})
        assert placed.status_code == 201


def test_redis_down_is_degraded_but_reads_still_succeed(
    own_servers: tuple[Postgres, Redis], api_url: str
) -> None:
    redis_server = own_servers[1]
    with httpx.Client(base_url=api_url, timeout=10) as http:
        redis_server.stop()
        try:
            ready = http.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            checks = {c["component"]: c["status"] for c in ready.json()["checks"]}
            assert checks == {"postgres": "up", "redis": "down"}
            for product_id in (5, 6, 5):
                started = time.monotonic()
                response = http.get(f"/api/v1/products/{product_id}")
                assert response.status_code == 200
                assert time.monotonic() - started < 1.5
            placed = http.post("/api/v1/orders", json={"items": [{"product_id": 6, "quantity": 1}]})
            assert placed.status_code == 201
        finally:
            redis_server.start()
        wait_until(lambda: http.get("/health/ready").json()["status"] == "ready")
        with redis_server.client() as direct:
            http.get("/api/v1/products/7")
            assert direct.exists("product:7")


async def _load(
    api_url: str, seconds: float, outage: Callable[[], None], recover: Callable[[], None]
) -> list[tuple[float, str, int | str, float]]:
    """16 shoppers for `seconds`; the outage starts after 2 s and ends 3 s later. Returns
    (start offset, path, status or error, latency) for every request."""
    results: list[tuple[float, str, int | str, float]] = []
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def shopper(n: int, http: httpx.AsyncClient) -> None:
        i = 0
        while loop.time() - began < seconds:
            i += 1
            path = (
                "/api/v1/products/3",
                f"/api/v1/products/{1 + (n + i) % 20}",
                "/api/v1/products?limit=5",
                "/api/v1/orders?limit=3",
            )[i % 4]
            start = loop.time()
            try:
                status: int | str = (await http.get(path)).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            results.append((round(start - began, 2), path, status, loop.time() - start))

    async def breaker() -> None:
        await asyncio.sleep(2)
        await asyncio.to_thread(outage)
        await asyncio.sleep(3)
        await asyncio.to_thread(recover)

    async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
        await asyncio.gather(breaker(), *(shopper(n, http) for n in range(16)))
    return results


async def test_postgres_stopped_mid_load_gives_fast_503s_never_a_hang(
    own_servers: tuple[Postgres, Redis], api_url: str
) -> None:
    postgres = own_servers[0]
    results = await _load(api_url, 9, postgres.stop, postgres.start)
    statuses = Counter(status for _, _, status, _ in results)
    slowest = max(latency for *_, latency in results)
    assert set(statuses) <= {200, 503}, statuses  # no 500, no dropped connection
    assert statuses[503] > 0 and statuses[200] > 0, statuses
    # DB_ACQUIRE_TIMEOUT_SECONDS=1 here; the connect timeout is 2 s: nothing waits longer.
    assert slowest < 3.0, f"a request took {slowest:.2f}s"
    wait_until(lambda: httpx.get(f"{api_url}/health/ready").status_code == 200)
    after = [httpx.get(f"{api_url}/api/v1/products?limit=2").status_code for _ in range(20)]
    assert after == [200] * 20
    record(
        "outage_postgres_mid_load",
        {
            "requests": len(results),
            "by_status": dict(statuses),
            "slowest_s": round(slowest, 2),
            "recovered_without_restart": True,
        },
    )


async def test_redis_stopped_mid_load_reads_keep_succeeding(
    own_servers: tuple[Postgres, Redis], api_url: str
) -> None:
    redis_server = own_servers[1]
    errors_before = cache_errors(api_url)
    results = await _load(api_url, 8, redis_server.stop, redis_server.start)
    statuses = Counter(status for _, _, status, _ in results)
    slowest = max(latency for *_, latency in results)
    assert set(statuses) == {200}, statuses  # every read served, from PostgreSQL meanwhile
    counted = cache_errors(api_url) - errors_before
    assert counted > 0, "cache errors were not counted"
    wait_until(lambda: httpx.get(f"{api_url}/health/ready").json()["status"] == "ready")
    record(
        "outage_redis_mid_load",
        {
            "requests": len(results),
            "by_status": dict(statuses),
            "slowest_s": round(slowest, 2),
            "cache_errors_counted": counted,
        },
    )


def cache_errors(api_url: str) -> float:
    return value(
        parse(httpx.get(f"{api_url}/metrics").text), "cache_requests_total", {"result": "error"}
    )
