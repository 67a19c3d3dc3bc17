"""Every metric the dashboards rely on exists with its labels, and moves when it should."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI

from faultline.cache import ProductCache, create_redis
from faultline.config import Settings
from faultline.db.pool import current_pool
from faultline.db.query_names import FAULT_SLEEP, KNOWN_OPERATIONS, KNOWN_TABLES
from labkit.net import free_port
from tests.integration.conftest import ProductFactory
from tests.support.metrics import Samples, label_sets, names, parse, value

POOL = {"db_client_connection_pool_name": "default"}


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return parse(response.text)


async def test_openmetrics_when_asked_classic_text_otherwise(client: httpx.AsyncClient) -> None:
    classic = await client.get("/metrics")
    assert classic.headers["content-type"].startswith("text/plain")
    assert "# EOF" not in classic.text
    openmetrics = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


async def test_red_metrics_use_route_templates_never_raw_paths(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product()
    await client.get(f"/api/v1/products/{product.id}")
    await client.get("/api/v1/products/2147483011")
    await client.get(f"/api/v1/no-such-route/{product.id}")
    samples = await scrape(client)
    handlers = {labels["handler"] for labels in label_sets(samples, "http_requests_total")}
    assert "/api/v1/products/{product_id}" in handlers
    assert not any(str(product.id) in h or "2147483011" in h for h in handlers)
    statuses = {
        labels["status"]
        for labels in label_sets(samples, "http_requests_total")
        if labels["handler"] == "/api/v1/products/{product_id}"
    }
    assert statuses >= {"2xx", "4xx"}
    buckets = {
        float(labels["le"])
        for labels in label_sets(samples, "http_request_duration_seconds_bucket")
        if labels["handler"] == "/api/v1/products/{product_id}"
    }
    assert min(buckets) == 0.005 and max(b for b in buckets if b != float("inf")) == 10.0
    assert "http_requests_inprogress" in names(samples)
    # A path no route matched counts under "none"; /metrics itself is not counted.
    assert {"handler": "none", "method": "GET", "status": "4xx"} in label_sets(
        samples, "http_requests_total"
    )
    assert "/metrics" not in handlers


async def test_red_metrics_bound_the_method_label(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    """A client picks the method: anything outside HTTP's standard ones is counted as _OTHER, so
    made-up methods cannot grow the series without bound."""
    product = await make_product()
    answered = await client.request("BREW", f"/api/v1/products/{product.id}")
    assert answered.status_code == 405
    samples = await scrape(client)
    methods = {labels["method"] for labels in label_sets(samples, "http_requests_total")}
    assert "_OTHER" in methods and "BREW" not in methods


async def test_runtime_collectors_are_exposed(client: httpx.AsyncClient) -> None:
    present = names(await scrape(client))
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "python_gc_collections_total",
    ):
        assert name in present, name


async def test_holding_every_connection_moves_the_pool_metrics(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.get("/api/v1/products?limit=1")
    pool = current_pool()
    assert pool is not None
    before = await scrape(client)
    assert value(before, "db_client_connection_max", POOL) == pool.get_max_size()

    original_timeout = pool.acquire_timeout
    pool.acquire_timeout = 0.5
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        waiting = asyncio.create_task(client.get("/api/v1/products?limit=2"))
        await asyncio.sleep(0.2)  # the request is now queued for a connection
        during = parse((await client.get("/metrics")).text)
        assert (
            value(
                during, "db_client_connection_count", {**POOL, "db_client_connection_state": "used"}
            )
            == pool.get_max_size()
        )
        assert (
            value(
                during, "db_client_connection_count", {**POOL, "db_client_connection_state": "idle"}
            )
            == 0
        )
        assert value(during, "db_client_connection_pending_requests", POOL) >= 1
        assert (await waiting).status_code == 503
    finally:
        await asyncio.gather(*(pool.release(c) for c in held))
        pool.acquire_timeout = original_timeout

    after = await scrape(client)
    assert (
        value(after, "db_client_connection_timeouts_total", POOL)
        == value(before, "db_client_connection_timeouts_total", POOL) + 1
    )
    # The timed-out wait (~0.5 s) was observed: bucket 0.25 did not grow, +Inf did.
    wait_inf = {**POOL, "le": "+Inf"}
    wait_fast = {**POOL, "le": "0.25"}
    grew = value(after, "db_client_connection_wait_time_seconds_bucket", wait_inf) - value(
        before, "db_client_connection_wait_time_seconds_bucket", wait_inf
    )
    fast_grew = value(after, "db_client_connection_wait_time_seconds_bucket", wait_fast) - value(
        before, "db_client_connection_wait_time_seconds_bucket", wait_fast
    )
    assert grew > fast_grew
    # Every connection we held for ~0.5 s shows up in the use-time histogram.
    use_sum_grew = value(after, "db_client_connection_use_time_seconds_sum", POOL) - value(
        before, "db_client_connection_use_time_seconds_sum", POOL
    )
    assert use_sum_grew >= 0.4 * pool.get_max_size()
    assert value(after, "db_client_connection_pending_requests", POOL) == 0
    assert (
        value(after, "db_client_connection_count", {**POOL, "db_client_connection_state": "used"})
        <= 1
    )


async def test_blocking_the_loop_shows_as_lag(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    await asyncio.sleep(0.25)  # let the sampler run a few times
    time.sleep(0.6)
    await asyncio.sleep(0.25)
    after = await scrape(client)
    slow = value(after, "asyncio_event_loop_lag_seconds_bucket", {"le": "+Inf"}) - value(
        after, "asyncio_event_loop_lag_seconds_bucket", {"le": "0.25"}
    )
    slow_before = value(before, "asyncio_event_loop_lag_seconds_bucket", {"le": "+Inf"}) - value(
        before, "asyncio_event_loop_lag_seconds_bucket", {"le": "0.25"}
    )
    assert slow == slow_before + 1
    assert (
        value(after, "asyncio_event_loop_lag_seconds_sum")
        - value(before, "asyncio_event_loop_lag_seconds_sum")
        >= 0.45
    )


async def test_cache_hits_misses_and_errors_are_counted(
    client: httpx.AsyncClient, make_product: ProductFactory, settings: Settings
) -> None:
    product = await make_product()
    before = await scrape(client)
    await client.get(f"/api/v1/products/{product.id}")  # miss
    await client.get(f"/api/v1/products/{product.id}")  # hit
    dead = Settings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", database_url=settings.database_url
    )  # type: ignore[arg-type]
    broken = ProductCache(create_redis(dead), ttl_seconds=5)
    result, _ = await broken.get(product.id)  # a real connection refused
    await broken._redis.aclose()
    assert result.value == "error"
    after = await scrape(client)
    for outcome in ("hit", "miss", "error"):
        delta = value(after, "cache_requests_total", {"result": outcome}) - value(
            before, "cache_requests_total", {"result": outcome}
        )
        assert delta == 1, outcome
    assert value(after, "cache_operation_duration_seconds_count", {"operation": "get"}) >= 3


async def test_queries_are_timed_with_bounded_labels(
    client: httpx.AsyncClient, make_product: ProductFactory
) -> None:
    product = await make_product(stock=5)
    await client.post("/api/v1/orders", json={"items": [{"product_id": product.id, "quantity": 1}]})
    samples = await scrape(client)
    series = {
        (labels["db_operation_name"], labels["db_query_summary"])
        for labels in label_sets(samples, "db_client_operation_duration_seconds_count")
    }
    assert {
        ("SELECT", "select products"),
        ("UPDATE", "update products"),
        ("INSERT", "insert orders"),
        ("INSERT", "insert order_items"),
    } <= series
    allowed = {
        f"{op.lower()} {table}" for op in KNOWN_OPERATIONS for table in (*KNOWN_TABLES, "other")
    }
    allowed |= {op.lower() for op in KNOWN_OPERATIONS} | {"other", FAULT_SLEEP}
    assert {name for _, name in series} <= allowed


@pytest.mark.parametrize("outcome", ["created", "stockout"])
async def test_business_metrics(
    client: httpx.AsyncClient, make_product: ProductFactory, outcome: str
) -> None:
    product = await make_product(stock=1, price="30.00")
    quantity = 1 if outcome == "created" else 2
    before = await scrape(client)
    response = await client.post(
        "/api/v1/orders", json={"items": [{"product_id": product.id, "quantity": quantity}]}
    )
    after = await scrape(client)
    created = value(after, "shop_orders_created_total") - value(before, "shop_orders_created_total")
    stockouts = value(after, "shop_stockouts_total") - value(before, "shop_stockouts_total")
    if outcome == "created":
        assert response.status_code == 201 and (created, stockouts) == (1, 0)
        grew = value(after, "shop_order_value_sum") - value(before, "shop_order_value_sum")
        assert grew == pytest.approx(30.0)
    else:
        assert response.status_code == 409 and (created, stockouts) == (0, 1)
