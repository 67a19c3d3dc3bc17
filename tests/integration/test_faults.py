"""Every fault in the catalogue, for real: on -> the real effect and its metrics move; off -> the
service recovers (pool back to normal, memory freed, loop lag back to baseline)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import httpx
import pytest
import redis.asyncio
import redis.exceptions
from fastapi import FastAPI

from faultline.config import Settings
from faultline.db.models import OrderItem
from faultline.db.pool import current_pool
from faultline.faults.catalogue import CATALOGUE
from faultline.faults.kinds.cpu_saturation import NEIGHBOUR
from faultline.faults.kinds.memory_leak import HOARD
from faultline.faults.kinds.pool_exhaustion import LEAK
from faultline.faults.runtime import RUNTIME
from faultline.faults.store import FaultStore
from tests.integration.conftest import FaultSwitch, ProductFactory
from tests.support.metrics import Samples, parse, value

pytestmark = pytest.mark.slow
PRODUCT = "/api/v1/products/{product_id}"

POOL = {"db_client_connection_pool_name": "default"}


async def scrape(client: httpx.AsyncClient) -> Samples:
    return parse((await client.get("/metrics")).text)


async def timed(
    client: httpx.AsyncClient, method: str, url: str, **kw: object
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.request(method, url, **kw)  # type: ignore[arg-type]
    return response, time.monotonic() - started


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_every_fault_is_covered_here() -> None:
    tested = {
        name.removeprefix("test_").split("_fault")[0]
        for name in globals()
        if name.endswith("_fault")
    }
    assert tested == set(CATALOGUE), f"untested: {set(CATALOGUE) - tested}"


async def test_latency_fault(client: httpx.AsyncClient, faults: FaultSwitch) -> None:
    await faults.on("latency", delay_ms=300, jitter_ms=0, routes=[PRODUCT])
    before = await scrape(client)
    slow, slow_s = await timed(client, "GET", "/api/v1/products/3")
    other, other_s = await timed(client, "GET", "/api/v1/products?limit=1")
    after = await scrape(client)
    assert slow.status_code == other.status_code == 200
    assert slow_s >= 0.3 and other_s < 0.3  # only the chosen route
    labels = {"handler": PRODUCT, "method": "GET"}
    grew = value(after, "http_request_duration_seconds_sum", labels) - value(
        before, "http_request_duration_seconds_sum", labels
    )
    assert grew >= 0.3
    await faults.off("latency")
    _, recovered_s = await timed(client, "GET", "/api/v1/products/3")
    assert recovered_s < 0.3


async def test_errors_fault(client: httpx.AsyncClient, faults: FaultSwitch) -> None:
    await faults.on("errors", probability=1.0)
    before = await scrape(client)
    failing = await client.get("/api/v1/products/4")
    assert failing.status_code == 500
    assert failing.json()["error"] == {
        "code": "internal_error",
        "message": "Internal server error",
        "request_id": failing.headers["x-request-id"],
    }
    after = await scrape(client)
    labels = {"handler": PRODUCT, "method": "GET", "status": "5xx"}
    assert (
        value(after, "http_requests_total", labels)
        == value(before, "http_requests_total", labels) + 1
    )
    await faults.off("errors")
    assert (await client.get("/api/v1/products/4")).status_code == 200


async def test_slow_queries_fault(client: httpx.AsyncClient, faults: FaultSwitch) -> None:
    await faults.on("slow_queries", delay_ms=150)
    before = await scrape(client)
    response, elapsed = await timed(client, "GET", "/api/v1/products?limit=2")  # 2 statements
    after = await scrape(client)
    assert response.status_code == 200 and elapsed >= 0.3
    sleeps = {"db_operation_name": "SELECT", "db_query_summary": "fault pg_sleep"}
    assert (
        value(after, "db_client_operation_duration_seconds_count", sleeps)
        - value(before, "db_client_operation_duration_seconds_count", sleeps)
        == 2
    )
    # The connection was held for the sleeps: it shows in the pool's use time.
    use = POOL
    assert (
        value(after, "db_client_connection_use_time_seconds_sum", use)
        - value(before, "db_client_connection_use_time_seconds_sum", use)
        >= 0.3
    )
    await faults.off("slow_queries")
    _, recovered = await timed(client, "GET", "/api/v1/products?limit=2")
    assert recovered < elapsed - 0.2  # the two 150 ms sleeps are gone


async def test_pool_exhaustion_fault(
    app: FastAPI, client: httpx.AsyncClient, faults: FaultSwitch
) -> None:
    pool = current_pool()
    assert pool is not None
    original_timeout = pool.acquire_timeout
    pool.acquire_timeout = 0.3
    try:
        await faults.on("pool_exhaustion", probability=1.0)
        statuses = [
            (await client.get("/api/v1/products?limit=1")).status_code
            for _ in range(pool.get_max_size() + 3)
        ]
        assert len(LEAK.leaked) == pool.get_max_size()
        assert pool.held_connections() == pool.get_max_size()
        assert statuses[-1] == 503
        exhausted = await client.get("/api/v1/orders?limit=1")
        assert exhausted.status_code == 503
        assert exhausted.json()["error"]["code"] == "db_pool_exhausted"
        samples = await scrape(client)
        assert (
            value(
                samples,
                "db_client_connection_count",
                {**POOL, "db_client_connection_state": "used"},
            )
            == pool.get_max_size()
        )
        assert (
            value(
                samples,
                "db_client_connection_timeouts_total",
                {"db_client_connection_pool_name": "default"},
            )
            >= 2
        )
        await faults.off("pool_exhaustion")
        assert LEAK.leaked == []
        assert pool.held_connections() == 0
        assert (await client.get("/api/v1/orders?limit=1")).status_code == 200
    finally:
        pool.acquire_timeout = original_timeout


async def test_n_plus_one_fault(
    client: httpx.AsyncClient, faults: FaultSwitch, make_product: ProductFactory
) -> None:
    a, b = await make_product(stock=50), await make_product(stock=50)
    for _ in range(5):
        body = {"items": [{"product_id": a.id, "quantity": 1}, {"product_id": b.id, "quantity": 1}]}
        assert (await client.post("/api/v1/orders", json=body)).status_code == 201
    item_selects = {"db_operation_name": "SELECT", "db_query_summary": "select order_items"}

    async def item_queries_for_listing() -> float:
        before = await scrape(client)
        page = await client.get("/api/v1/orders?limit=5")
        assert page.status_code == 200 and all(len(o["items"]) == 2 for o in page.json()["items"])
        return value(
            await scrape(client), "db_client_operation_duration_seconds_count", item_selects
        ) - value(before, "db_client_operation_duration_seconds_count", item_selects)

    assert await item_queries_for_listing() == 1  # prefetch: one query for all items
    await faults.on("n_plus_one")
    assert await item_queries_for_listing() == 5 + 10  # one per order, then one per item
    assert await OrderItem.all().count() >= 10
    await faults.off("n_plus_one")
    assert await item_queries_for_listing() == 1


async def test_cache_outage_fault(
    client: httpx.AsyncClient, faults: FaultSwitch, make_product: ProductFactory
) -> None:
    product = await make_product()
    await faults.on("cache_outage")
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get(f"/api/v1/products/{product.id}")).status_code == 200
    after = await scrape(client)
    assert (
        value(after, "cache_requests_total", {"result": "error"})
        - value(before, "cache_requests_total", {"result": "error"})
        == 3
    )
    assert value(after, "cache_requests_total", {"result": "hit"}) == value(
        before, "cache_requests_total", {"result": "hit"}
    )
    selects = {"db_operation_name": "SELECT", "db_query_summary": "select products"}
    assert (
        value(after, "db_client_operation_duration_seconds_count", selects)
        - value(before, "db_client_operation_duration_seconds_count", selects)
        >= 3
    )  # every read hit PostgreSQL
    await faults.off("cache_outage")
    await client.get(f"/api/v1/products/{product.id}")
    before_hit = await scrape(client)
    await client.get(f"/api/v1/products/{product.id}")
    assert (
        value(await scrape(client), "cache_requests_total", {"result": "hit"})
        == value(before_hit, "cache_requests_total", {"result": "hit"}) + 1
    )


async def test_event_loop_block_fault(client: httpx.AsyncClient, faults: FaultSwitch) -> None:
    await faults.on("event_loop_block", block_ms=400, probability=1.0)

    def slow_lags(samples: Samples) -> float:
        return value(samples, "asyncio_event_loop_lag_seconds_bucket", {"le": "+Inf"}) - value(
            samples, "asyncio_event_loop_lag_seconds_bucket", {"le": "0.25"}
        )

    before = await scrape(client)
    response, elapsed = await timed(client, "GET", "/api/v1/products/5")
    await asyncio.sleep(0.25)  # the sampler wakes, late, and records the lag
    after = await scrape(client)
    assert response.status_code == 200 and elapsed >= 0.4
    assert slow_lags(after) - slow_lags(before) >= 1
    await faults.off("event_loop_block")
    for _ in range(5):
        await client.get("/api/v1/products/5")
    await asyncio.sleep(0.3)
    assert slow_lags(await scrape(client)) == slow_lags(after)  # back to baseline: no new big lags


async def test_memory_leak_fault(client: httpx.AsyncClient, faults: FaultSwitch) -> None:
    baseline = rss_bytes()
    await faults.on("memory_leak", kb_per_request=2048, max_mb=256)
    for _ in range(20):
        assert (await client.get("/api/v1/products?limit=1")).status_code == 200
    grown = rss_bytes()
    assert HOARD.bytes == 20 * 2048 * 1024
    assert grown - baseline >= 35 * 1024 * 1024
    samples = await scrape(client)
    assert value(samples, "process_resident_memory_bytes") >= baseline + 35 * 1024 * 1024
    await faults.off("memory_leak")
    assert HOARD.bytes == 0
    assert rss_bytes() - baseline < 10 * 1024 * 1024  # returned to the operating system


async def test_cpu_saturation_fault(client: httpx.AsyncClient, faults: FaultSwitch) -> None:
    """Threads beside the event loop burn a core while the fault is on (the process's own CPU
    counter says so, as the Runtime dashboard reads it); a new setting restarts them, and
    switching it off stops every one."""

    def cpu_seconds(samples: Samples) -> float:
        return value(samples, "process_cpu_seconds_total")

    await faults.on("cpu_saturation", threads=1, duty_percent=100)
    assert NEIGHBOUR.running == 1
    before, started = cpu_seconds(await scrape(client)), time.monotonic()
    await asyncio.sleep(1.0)  # the event loop idles; only the neighbour works
    busy = (cpu_seconds(await scrape(client)) - before) / (time.monotonic() - started)
    assert busy > 0.7, f"{busy:.2f} cores busy with the fault on"
    assert (await client.get("/api/v1/products/5")).status_code == 200  # slower, still served

    await faults.on("cpu_saturation", threads=2, duty_percent=50)
    assert NEIGHBOUR.running == 2
    await faults.off("cpu_saturation")
    assert NEIGHBOUR.running == 0
    before, started = cpu_seconds(await scrape(client)), time.monotonic()
    await asyncio.sleep(1.0)
    idle = (cpu_seconds(await scrape(client)) - before) / (time.monotonic() - started)
    assert idle < 0.3, f"{idle:.2f} cores still busy after the fault went off"


async def test_lock_contention_fault(
    client: httpx.AsyncClient, faults: FaultSwitch, make_product: ProductFactory
) -> None:
    hot, products = await make_product(stock=10), [await make_product(stock=10) for _ in range(4)]
    bodies = [{"items": [{"product_id": p.id, "quantity": 1}]} for p in products]
    await faults.on("lock_contention", hold_ms=250, hot_product_id=hot.id)
    started = time.monotonic()
    responses = await asyncio.gather(*(client.post("/api/v1/orders", json=b) for b in bodies))
    contended = time.monotonic() - started
    assert {r.status_code for r in responses} == {201}
    assert contended >= 4 * 0.25  # four orders for different products, serialised on one row lock
    await faults.off("lock_contention")
    started = time.monotonic()
    responses = await asyncio.gather(*(client.post("/api/v1/orders", json=b) for b in bodies))
    assert {r.status_code for r in responses} == {201}
    assert time.monotonic() - started < contended / 2  # no longer serialised on the hot row


async def test_fault_switches_sync_while_shop_traffic_holds_every_cache_connection(
    app: FastAPI, settings: Settings, faults: FaultSwitch
) -> None:
    """Under overload the shop's requests can hold every connection of the cache's pool. The
    fault runtime has its own connections: if it shared the pool, its reads would time out, and
    after the grace period every fault would switch itself off in the middle of a workshop."""
    pool = app.state.redis.connection_pool
    held = []
    with contextlib.suppress(redis.exceptions.ConnectionError):
        while True:  # until the pool's wait times out: every cache connection is taken
            held.append(await pool.get_connection())
    assert len(held) >= 2, "the cache pool handed out nothing"
    writer = redis.asyncio.Redis.from_url(str(settings.redis_url))
    try:
        await FaultStore(writer).enable("latency", {"delay_ms": 50, "jitter_ms": 0}, 60)
        await RUNTIME.sync_once(grace=5)
        assert RUNTIME.store_reachable
        assert RUNTIME.get("latency") is not None
    finally:
        await FaultStore(writer).disable("latency")
        await writer.aclose()
        for connection in held:
            await pool.release(connection)
