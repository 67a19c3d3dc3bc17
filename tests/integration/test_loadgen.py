"""Locust, headless, for a few seconds against the real API (real PostgreSQL and Redis): every
journey runs, nothing fails with no faults, and the client-side metrics endpoint reports it. In
Locust's distributed mode (a master and two workers, as `LOADGEN_WORKERS=2` runs them) the master's
metrics count every request once: the API's own counts agree."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labkit.api import running_api
from labkit.net import free_port
from labkit.servers import Redis
from tests.integration.conftest import SEEDED_PRODUCTS
from tests.support.loadgen import ROOT, headless_locust, locust
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


def api_requests(api_url: str) -> float:
    """Requests the API itself counted on the shop's routes (its /metrics)."""
    samples = parse(httpx.get(f"{api_url}/metrics", timeout=5).text)
    return sum(
        count
        for (name, labels), count in samples.items()
        if name == "http_requests_total" and dict(labels)["handler"].startswith("/api/v1/")
    )


def test_a_master_and_two_workers_count_every_request_once(api_url: str, tmp_path: Path) -> None:
    """The compose/native/Kubernetes layout: a master with its web UI (autostarted, as the
    `loadgen` service runs it) and two workers. After the run, the master's client-side counts are
    the API's own: not one worker's half, not doubled."""
    metrics_port, master_port, web_port = free_port(), free_port(), free_port()
    users = 12
    load = {
        "LOAD_PROFILE": "steady",
        "LOAD_USERS": str(users),
        "LOAD_SPAWN_RATE": str(users),
        "LOAD_DURATION": "8s",
        "LOAD_WAIT_MIN": "0.05",
        "LOAD_WAIT_MAX": "0.2",
    }
    before = api_requests(api_url)
    master = locust(
        SEEDED_PRODUCTS,
        {**load, "LOADGEN_METRICS_PORT": str(metrics_port)},
        tmp_path / "master.log",
        *("--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)),
        *("--expect-workers", "2", "--autostart", "--host", api_url),
        *("--web-host", "127.0.0.1", "--web-port", str(web_port)),
    )
    workers = [
        locust(
            SEEDED_PRODUCTS,
            {**load, "LOADGEN_METRICS_PORT": "0"},
            tmp_path / f"worker-{n}.log",
            *("--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)),
        )
        for n in (1, 2)
    ]
    try:
        most_users: dict[str, int] = {}  # worker id -> the most users it ran at once
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the shape ends after 8 s; the master stays up
            time.sleep(1)
            try:
                stats = httpx.get(f"http://127.0.0.1:{web_port}/stats/requests", timeout=2).json()
            except httpx.HTTPError:
                continue
            for worker in stats.get("workers", []):
                most_users[worker["id"]] = max(
                    most_users.get(worker["id"], 0), worker["user_count"]
                )
            if stats["state"] == "stopped":
                break
        assert stats["state"] == "stopped", (tmp_path / "master.log").read_text()[-3000:]
        time.sleep(1)  # the workers' last reports
        samples = parse(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text)
    finally:
        for process in (master, *workers):
            process.terminate()
        for process in (master, *workers):
            process.wait(timeout=30)
    served = api_requests(api_url) - before
    counted = sum(count for (name, _), count in samples.items() if name == "loadgen_requests_total")
    timed = sum(
        count
        for (name, _), count in samples.items()
        if name == "loadgen_request_duration_seconds_count"
    )
    assert sorted(most_users.values()) == [users // 2, users // 2], most_users  # both ran half
    assert served > 200, served
    print(f"client-side count {counted:.0f}, API's count {served:.0f}, {users} shoppers")
    # A shopper stopped mid-request is seen by the API, never by the client: at most one each.
    assert served - users <= counted <= served, (counted, served)
    assert timed == counted
    names = {labels["name"] for labels in label_sets(samples, "loadgen_requests_total")}
    assert names == JOURNEYS
    assert value(samples, "loadgen_users") == users


def test_make_load_with_workers_runs_a_master_and_worker_processes(
    api_url: str, tmp_path: Path
) -> None:
    """`make load WORKERS=2`: Locust's own --processes, one summary for both workers together,
    which is what the API served; the profile's steps reach the workers (stairs: 2, 4, 6 users)."""
    before = api_requests(api_url)
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "load",
            f"HOST={api_url}",
            "WORKERS=2",
            "PROFILE=stairs",  # a shape other than steady: the master runs it, as alone
            "USERS=6",
            "DURATION=6s",
            "MAX_FAILURES=0",
        ],
        env={
            **os.environ,
            "CATALOGUE_SIZE": str(SEEDED_PRODUCTS),
            "LOAD_SPAWN_RATE": "6",
            "LOAD_STEPS": "3",
        },
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "to 2 ready workers" in output and "OK: 0.00% of requests failed" in output
    assert "Shape test updating to 6 users" in output and "Shape test updating to 2 users" in output
    aggregated = re.search(r"^\s+Aggregated\s+(\d+)\s", output, re.M)
    assert aggregated, output[-3000:]
    served = api_requests(api_url) - before
    assert served - 6 <= int(aggregated.group(1)) <= served, (aggregated.group(0), served)
