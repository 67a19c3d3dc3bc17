"""Readiness with everything up, and the bounded pool: an exhausted pool gives a fast 503."""

import asyncio
import time

import asyncpg
import httpx
from fastapi import FastAPI

from faultline.db.pool import current_pool
from tests.support.figures import record


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok", "checks": []}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert {c["component"]: c["status"] for c in body["checks"]} == {
        "postgres": "up",
        "redis": "up",
    }


async def test_exhausted_pool_gives_503_with_retry_after_on_every_query_path(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.get("/api/v1/products?limit=1")  # make sure the pool exists
    pool = current_pool()
    assert pool is not None
    original_timeout = pool.acquire_timeout
    pool.acquire_timeout = 0.3
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        assert pool.held_connections() == pool.get_max_size()
        paths = [
            ("GET", "/api/v1/products?limit=3", None),  # plain query
            ("GET", "/api/v1/products/2147483002", None),  # cache miss -> query
            ("GET", "/api/v1/orders?limit=2", None),  # query + prefetch
            (
                "POST",
                "/api/v1/orders",
                {"items": [{"product_id": 1, "quantity": 1}]},
            ),  # transaction
        ]
        for method, path, body in paths:
            started = time.monotonic()
            response = await client.request(method, path, json=body)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.text)
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"]["code"] == "db_pool_exhausted"
            assert elapsed < 5, f"{path} waited {elapsed:.1f}s"
        # Readiness does not use the pool: an exhausted pool is not an unreachable database.
        assert (await client.get("/health/ready")).status_code == 200
    finally:
        await asyncio.gather(*(pool.release(c) for c in held))
        pool.acquire_timeout = original_timeout
    assert (await client.get("/api/v1/products?limit=1")).status_code == 200
    assert pool.pending_acquires == 0


async def test_a_flood_of_readiness_checks_opens_one_connection_at_a_time(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Readiness opens its own connection (the pool may be exhausted on purpose), and anyone can
    call it through the proxy: concurrent calls share one check instead of one connection each.
    Counted by PostgreSQL itself (sessions established to the database)."""
    observer = await asyncpg.connect(database_url)

    async def sessions() -> int:
        await observer.execute("SELECT pg_stat_clear_snapshot()")
        count: int = await observer.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
        return count

    try:
        await asyncio.sleep(1.1)  # the observer's own session is flushed to the statistics
        before = await sessions()
        responses = await asyncio.gather(*(client.get("/health/ready") for _ in range(30)))
        assert [r.status_code for r in responses] == [200] * 30
        await asyncio.sleep(0.5)  # each backend flushes its statistics as it exits
        opened = await sessions() - before
    finally:
        await observer.close()
    assert 1 <= opened <= 3, f"{opened} connections for 30 concurrent readiness checks"
    record("readiness_flood", {"concurrent_checks": 30, "postgres_sessions_opened": opened})
