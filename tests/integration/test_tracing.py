"""Traces, exemplars and correlated logs, end to end, against a separate API process.

The OTLP receiver is a stand-in for the collector (labkit/otlp_sink.py says why); the
Prometheus is Debian's real binary, scraping the API with exemplar storage on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from labkit.api import running_api
from labkit.net import free_port
from labkit.otlp_sink import OtlpSink, Span
from labkit.prometheus import running_prometheus
from labkit.servers import Redis

pytestmark = pytest.mark.slow


class Api:
    def __init__(self, url: str, log_path: Path, sink: OtlpSink) -> None:
        self.url = url
        self.log_path = log_path
        self.sink = sink

    def log_lines(self) -> list[dict[str, object]]:
        lines = []
        for raw in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return lines


def telemetry_env(database_url: str, redis_server: Redis, endpoint: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "STOCK_REPLENISH_INTERVAL_SECONDS": "0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_TRACES_SAMPLER_ARG": "1",  # every request traced (the default is one in ten)
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=ci,team=lab",
        "LOG_JSON": "true",
    }


@pytest.fixture(scope="module")
def api(
    database_url: str, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    log_path = tmp_path_factory.mktemp("traced-api") / "api.log"
    with OtlpSink() as sink:
        env = telemetry_env(database_url, redis_server, sink.endpoint)
        env["DB_POOL_MAX_SIZE"] = "2"  # small, so concurrent requests really wait for it
        with running_api(env, log_path) as url:
            yield Api(url, log_path, sink)


def wait_for_spans(
    sink: OtlpSink, trace_id: str, names: set[str], timeout: float = 10
) -> list[Span]:
    deadline = time.monotonic() + timeout
    while True:
        spans = sink.received.spans_of(trace_id)
        if names <= {s.name for s in spans}:
            return spans
        if time.monotonic() > deadline:
            raise AssertionError(f"spans {names - {s.name for s in spans}} never arrived: {spans}")
        time.sleep(0.1)


def server_trace_id(api: Api, request_id: str) -> str:
    """The trace id of a request, from its access-log line."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in api.log_lines():
            if line.get("request_id") == request_id and line.get("event") == "request":
                return str(line["trace_id"])
        time.sleep(0.1)
    raise AssertionError(f"no log line for request {request_id}")


def test_a_product_read_is_one_trace_with_one_span_per_query_and_redis_call(
    api: Api, redis_server: Redis
) -> None:
    with redis_server.client() as direct:
        direct.delete("product:17")  # earlier suites may have cached it: make this a miss
    response = httpx.get(f"{api.url}/api/v1/products/17")
    assert response.status_code == 200
    trace_id = server_trace_id(api, response.headers["x-request-id"])
    spans = wait_for_spans(
        api.sink,
        trace_id,
        {"GET /api/v1/products/{product_id}", "load product", "SELECT", "GET", "SET"},
    )
    by_name: dict[str, list[Span]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert len(by_name["SELECT"]) == 1, "one span per query: no double instrumentation"
    server = by_name["GET /api/v1/products/{product_id}"][0]
    load = by_name["load product"][0]
    assert server.parent_span_id == ""
    assert server.attributes["http.route"] == "/api/v1/products/{product_id}"
    assert server.attributes["http.response.status_code"] == 200
    assert load.parent_span_id == server.span_id
    assert load.attributes["shop.cache.result"] == "miss"
    for child in ("SELECT", "GET", "SET"):
        assert by_name[child][0].parent_span_id == load.span_id
    assert '"products"' in by_name["SELECT"][0].attributes["db.statement"]


def test_resource_attributes_come_from_defaults_and_otel_env(api: Api) -> None:
    httpx.get(f"{api.url}/api/v1/products?limit=1")
    deadline = time.monotonic() + 10
    while not list(api.sink.spans()) and time.monotonic() < deadline:
        time.sleep(0.1)
    resource = next(api.sink.spans()).resource
    assert resource["service.name"] == "faultline-api"
    assert resource["service.version"]
    assert resource["service.instance.id"]
    assert resource["deployment.environment.name"] == "ci"  # OTEL_RESOURCE_ATTRIBUTES wins
    assert resource["team"] == "lab"


def test_placing_an_order_traces_the_service_operation(api: Api) -> None:
    response = httpx.post(
        f"{api.url}/api/v1/orders", json={"items": [{"product_id": 21, "quantity": 1}]}
    )
    assert response.status_code == 201
    trace_id = server_trace_id(api, response.headers["x-request-id"])
    spans = wait_for_spans(api.sink, trace_id, {"place order", "UPDATE", "INSERT", "DEL"})
    place = next(s for s in spans if s.name == "place order")
    assert place.attributes["shop.order.id"] == response.json()["id"]
    assert all(s.parent_span_id == place.span_id for s in spans if s.name in {"UPDATE", "INSERT"})


def test_waiting_for_a_pool_connection_appears_in_the_trace(api: Api) -> None:
    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(
            pool.map(lambda _: httpx.get(f"{api.url}/api/v1/products?limit=100"), range(24))
        )
    assert {r.status_code for r in responses} == {200}
    trace_ids = {server_trace_id(api, r.headers["x-request-id"]) for r in responses}
    deadline = time.monotonic() + 10
    waits: list[Span] = []
    while not waits and time.monotonic() < deadline:
        waits = [
            s
            for s in api.sink.spans()
            if s.name == "db.client.connection.acquire" and s.trace_id in trace_ids
        ]
        time.sleep(0.2)
    assert waits, "with a pool of 2 and 12 concurrent requests, some waited"
    assert all(s.attributes["faultline.pool.wait_ms"] >= 5 for s in waits)
    assert all(s.end_ns - s.start_ns >= 5_000_000 for s in waits)


def test_log_lines_and_otlp_log_records_carry_the_trace(api: Api) -> None:
    response = httpx.get(f"{api.url}/api/v1/products/18")
    trace_id = server_trace_id(api, response.headers["x-request-id"])
    server = next(
        s for s in wait_for_spans(api.sink, trace_id, {"load product"}) if s.parent_span_id == ""
    )
    line = next(
        entry
        for entry in api.log_lines()
        if entry.get("request_id") == response.headers["x-request-id"]
    )
    assert line["trace_id"] == server.trace_id
    assert line["route"] == "/api/v1/products/{product_id}"
    assert line["method"] == "GET" and line["status"] == 200 and "duration_ms" in line
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records = [r for r in api.sink.received.snapshot()[1] if r.trace_id == trace_id]
        if records:
            break
        time.sleep(0.1)
    assert records and records[0].body == "request"
    assert records[0].attributes["request_id"] == response.headers["x-request-id"]
    assert records[0].resource["service.name"] == "faultline-api"


def test_an_unsampled_request_logs_to_stdout_only_without_trace_ids(api: Api) -> None:
    """Sampling decides for logs too: an unsampled request (parent-based: a caller that did not
    sample) gets its JSON line on stdout, without trace ids that would open no trace, and no OTLP
    record. (Warnings and errors reach OTLP regardless: tests/unit/test_log_export.py.)"""
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    unsampled = {"traceparent": f"00-{trace_id}-b7ad6b7169203331-00"}
    response = httpx.get(f"{api.url}/api/v1/products/21", headers=unsampled)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    deadline = time.monotonic() + 5
    while not (lines := [e for e in api.log_lines() if e.get("request_id") == request_id]):
        assert time.monotonic() < deadline, "no log line for the unsampled request"
        time.sleep(0.1)
    line = lines[0]
    assert line["status"] == 200 and "trace_id" not in line and "span_id" not in line
    sampled = httpx.get(f"{api.url}/api/v1/products/22")  # flushes after the unsampled one
    sampled_trace = server_trace_id(api, sampled.headers["x-request-id"])
    deadline = time.monotonic() + 10
    while not any(r.trace_id == sampled_trace for r in api.sink.received.snapshot()[1]):
        assert time.monotonic() < deadline, "the sampled request's record never arrived"
        time.sleep(0.1)
    records = api.sink.received.snapshot()[1]
    assert not [r for r in records if r.attributes.get("request_id") == line["request_id"]]
    assert not list(api.sink.received.spans_of(trace_id))


def test_probes_and_scrapes_make_no_spans_not_even_for_their_redis_calls(api: Api) -> None:
    """Readiness pings Redis through the instrumented client; those calls would otherwise become
    root spans of their own (every one, at the test's ratio of 1)."""
    for _ in range(3):
        assert httpx.get(f"{api.url}/health/ready").status_code == 200
        assert httpx.get(f"{api.url}/metrics").status_code == 200
    after = httpx.get(f"{api.url}/api/v1/products/23")  # exported after anything the probes made
    wait_for_spans(api.sink, server_trace_id(api, after.headers["x-request-id"]), {"GET"})
    names = {s.name for s in api.sink.spans()}
    assert "PING" not in names
    assert not {n for n in names if "/health" in n or "/metrics" in n}


def test_prometheus_stores_exemplars_that_point_at_real_traces(api: Api) -> None:
    host_port = api.url.removeprefix("http://")
    with running_prometheus({"faultline-api": [host_port]}) as prometheus:
        deadline = time.monotonic() + 20
        exemplars: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            for product_id in (31, 32, 33):
                httpx.get(f"{api.url}/api/v1/products/{product_id}")
            time.sleep(1)
            found = prometheus.exemplars(
                'http_request_duration_seconds_bucket{handler="/api/v1/products/{product_id}"}'
            )
            exemplars = [e for series in found for e in series["exemplars"]]
            if len(exemplars) >= 3:
                break
        assert exemplars, "Prometheus stored no exemplars"
        exemplar_traces = {e["labels"]["trace_id"] for e in exemplars}
        time.sleep(1)  # the last batch of spans
        span_traces = {s.trace_id for s in api.sink.spans() if s.parent_span_id == ""}
        assert exemplar_traces <= span_traces, "every exemplar links to a trace that was exported"
        assert prometheus.targets_up()


def test_collector_down_changes_no_status_and_warns_once(
    database_url: str, redis_server: Redis, tmp_path: Path
) -> None:
    dead_endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    log_path = tmp_path / "api.log"
    with running_api(telemetry_env(database_url, redis_server, dead_endpoint), log_path) as url:
        statuses = []
        with httpx.Client(base_url=url, timeout=5) as http:
            for i in range(60):
                statuses.append(http.get(f"/api/v1/products/{1 + i % 10}").status_code)
                statuses.append(http.get("/api/v1/products/2147483600").status_code)
            time.sleep(1.5)  # several export attempts fail meanwhile
            statuses.append(http.get("/health/ready").status_code)
    assert statuses == [200, 404] * 60 + [200]
    text = log_path.read_text()
    failing = [json.loads(line) for line in text.splitlines() if "export_failing" in line]
    assert 1 <= len(failing) <= 2  # one per signal (traces, logs), not one per batch
    assert {f["signal"] for f in failing} <= {"traces", "logs"}
    assert "Failed to export" not in text and "Transient error" not in text


async def test_active_faults_are_stamped_on_spans_and_log_lines(
    api: Api, redis_server: Redis
) -> None:
    from redis.asyncio import Redis as AsyncRedis

    from faultline.faults.store import FaultStore

    client = AsyncRedis.from_url(redis_server.url)
    store = FaultStore(client)
    await store.enable(
        "latency", {"routes": [], "probability": 1.0, "delay_ms": 1, "jitter_ms": 0}, 30
    )
    try:
        deadline = time.monotonic() + 5
        while "faults" not in (
            line := _last_request_line(api, httpx.get(f"{api.url}/api/v1/products/19"))
        ):
            assert time.monotonic() < deadline, "the replica never picked the fault up"
            time.sleep(0.2)
        assert line["faults"] == ["latency"]
        spans = wait_for_spans(
            api.sink, str(line["trace_id"]), {"GET /api/v1/products/{product_id}"}
        )
        server = next(s for s in spans if s.parent_span_id == "")
        assert server.attributes["faultline.fault.latency"] is True
    finally:
        await store.disable("latency")
        await client.aclose()


def _last_request_line(api: Api, response: httpx.Response) -> dict[str, object]:
    request_id = response.headers["x-request-id"]
    server_trace_id(api, request_id)  # waits for the line
    return next(e for e in api.log_lines() if e.get("request_id") == request_id)
