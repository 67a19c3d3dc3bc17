"""Locust, headless, for a few seconds against the real API (real PostgreSQL and Redis): every
journey runs, nothing fails with no faults, and the client-side metrics endpoint reports it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labkit.api import running_api
from labkit.net import free_port
from labkit.servers import Redis
from tests.integration.conftest import SEEDED_PRODUCTS
from tests.support.loadgen import headless_locust
from tests.support.metrics import label_sets, parse, value

pytestmark = pytest.mark.slow
JOURNEYS = {
    "browse: GET /products",
    "view: GET /products/{id}",
    "order: POST /orders",
    "recent: GET /orders",
}


@pytest.fixture(scope="module")
def api_url(
    database_url: str, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "OTEL_SDK_DISABLED": "true",
        "STOCK_REPLENISH_INTERVAL_SECONDS": "1",
    }
    with running_api(env, tmp_path_factory.mktemp("loadgen") / "api.log") as url:
        yield url


def test_every_journey_runs_without_failures_and_is_measured(api_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "LOAD_PROFILE": "steady",
        "LOAD_USERS": "15",
        "LOAD_SPAWN_RATE": "15",
        "LOAD_DURATION": "10s",
        "LOAD_WEIGHTS": "browse=3,view=6,order=3,recent=2",
        "LOADGEN_METRICS_PORT": str(port),
        "LOAD_MAX_FAILURE_RATIO": "0",
    }
    process = headless_locust(api_url, SEEDED_PRODUCTS, env, tmp_path / "locust.log")
    samples = {}
    deadline = time.monotonic() + 9
    while time.monotonic() < deadline:  # scrape while it runs, like Prometheus would
        time.sleep(1)
        try:
            samples = parse(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
        except httpx.HTTPError:
            continue
    assert process.wait(timeout=60) == 0, (tmp_path / "locust.log").read_text()[-3000:]
    names = {labels["name"] for labels in label_sets(samples, "loadgen_requests_total")}
    assert names >= JOURNEYS
    for journey in JOURNEYS:
        assert (
            value(
                samples,
                "loadgen_requests_total",
                {
                    "name": journey,
                    "method": "POST" if "POST" in journey else "GET",
                    "result": "success",
                },
            )
            > 0
        )
    failures = [
        labels
        for labels in label_sets(samples, "loadgen_requests_total")
        if labels["result"] == "failure"
    ]
    assert failures == []
    assert value(samples, "loadgen_users") == 15
    assert value(samples, "loadgen_profile_info", {"profile": "steady"}) == 1
    assert (
        value(
            samples,
            "loadgen_request_duration_seconds_count",
            {"name": "view: GET /products/{id}", "method": "GET"},
        )
        > 0
    )
    summary = (tmp_path / "locust.log").read_text()
    assert "OK: 0.00% of requests failed" in summary


def test_exit_code_fails_when_the_failure_ratio_is_exceeded(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        "LOAD_PROFILE": "steady",
        "LOAD_USERS": "3",
        "LOAD_DURATION": "3s",
        "LOADGEN_METRICS_PORT": "0",
        "LOAD_MAX_FAILURE_RATIO": "0.01",
    }
    process = headless_locust(dead, SEEDED_PRODUCTS, env, tmp_path / "locust.log")
    assert process.wait(timeout=60) != 0
    assert "FAILED:" in (tmp_path / "locust.log").read_text()
