"""The standard OTEL_* variables do what the specification says, observed on what the real API
exports (to the OTLP stand-in: labkit/otlp_sink.py says why the collector is not here). Each case
starts `faultline serve` with one setting, sends the same requests, stops it (which flushes), and
looks at what arrived."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from faultline.cache import product_key
from labkit.api import running_api
from labkit.net import ServerUnavailable
from labkit.otlp_sink import Export, LogRecord, OtlpSink, Span
from labkit.servers import Redis

pytestmark = pytest.mark.slow


@dataclass
class Exported:
    spans: list[Span]
    logs: list[LogRecord]
    exports: list[Export]
    log_text: str

    def span_names(self) -> set[str]:
        return {span.name for span in self.spans}


@pytest.fixture(scope="module")
def base_env(database_url: str, redis_server: Redis) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "STOCK_REPLENISH_INTERVAL_SECONDS": "0",
        "OTEL_TRACES_SAMPLER_ARG": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "LOG_JSON": "true",
    }


@contextlib.contextmanager
def sinks(count: int) -> Iterator[list[OtlpSink]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(OtlpSink()) for _ in range(count)]


PRODUCTS = itertools.count(1)


def run(env: dict[str, str], sink: OtlpSink, log_path: Path) -> Exported:
    """Traffic that makes every kind of span and log record, then a clean stop (it flushes)."""
    product = next(PRODUCTS)
    # A cache miss first (a SQL span), whatever other tests have read since.
    with redis.Redis.from_url(env["REDIS_URL"]) as cache:
        cache.delete(product_key(product))
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, **env}
    with running_api(env, log_path) as url, httpx.Client(base_url=url, timeout=10) as http:
        http.delete("/api/v1/orders/0")  # a 4xx line
        for _ in range(2):
            http.get(f"/api/v1/products/{product}").raise_for_status()  # a miss, then a hit
    spans, logs = sink.received.snapshot()
    return Exported(spans, logs, list(sink.received.exports), log_path.read_text())


def test_by_default_traces_and_log_records_go_out_with_the_api_resource(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    with OtlpSink() as sink:
        got = run(base_env, sink, tmp_path / "api.log")
    assert {
        "GET /api/v1/products/{product_id}",
        "load product",
        "SELECT",
        "GET",
    } <= got.span_names()
    assert any(record.body == "request" for record in got.logs)
    resource = got.spans[0].resource
    assert resource["service.name"] == "faultline-api"
    assert resource["service.namespace"] == "faultline"
    assert resource["telemetry.auto.version"]  # set up through the distro's standard path
    assert {e.headers["content-type"] for e in got.exports} == {"application/x-protobuf"}


@pytest.mark.parametrize(
    ("setting", "spans", "logs"),
    [
        ({"OTEL_TRACES_EXPORTER": "none"}, False, True),
        ({"OTEL_LOGS_EXPORTER": "none"}, True, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp"}, True, True),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, False, False),  # info lines follow the trace
        ({"OTEL_SDK_DISABLED": "true"}, False, False),
    ],
    ids=["traces-none", "logs-none", "plain-otlp", "sampler-off", "sdk-disabled"],
)
def test_exporters_sampler_and_the_sdk_switch(
    base_env: dict[str, str], tmp_path: Path, setting: dict[str, str], spans: bool, logs: bool
) -> None:
    with OtlpSink() as sink:
        got = run({**base_env, **setting}, sink, tmp_path / "api.log")
    assert bool(got.spans) is spans
    assert bool(got.logs) is logs


def test_endpoint_headers_and_compression_per_signal(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    with sinks(2) as (logs_sink, traces_sink):
        env = {
            **base_env,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{traces_sink.endpoint}/v1/traces",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-lab=workshop",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
        }
        got = run(env, logs_sink, tmp_path / "api.log")
        traces = traces_sink.received.exports
    assert got.logs and not got.spans  # the traces went to their own endpoint
    assert traces and all(e.path == "/v1/traces" for e in traces)
    assert all(e.headers.get("x-lab") == "workshop" for e in traces + got.exports)
    assert all(e.headers.get("content-encoding") == "gzip" for e in traces)
    assert all("content-encoding" not in e.headers for e in got.exports)


def test_resource_attributes_and_service_name(base_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **base_env,
        "OTEL_SERVICE_NAME": "shop-blue",
        "OTEL_RESOURCE_ATTRIBUTES": "team=lab,service.namespace=workshop",
    }
    with OtlpSink() as sink:
        got = run(env, sink, tmp_path / "api.log")
    for resource in [got.spans[0].resource, got.logs[0].resource]:
        assert resource["service.name"] == "shop-blue"
        assert resource["team"] == "lab"
        assert resource["service.namespace"] == "workshop"  # yours wins over the API's default


def test_batch_size_and_disabled_instrumentations(base_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **base_env,
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "redis,structlog",
    }
    with OtlpSink() as sink:
        got = run(env, sink, tmp_path / "api.log")
    batches = [e.items for e in got.exports if e.path == "/v1/traces"]
    assert batches and set(batches) == {1}
    assert "SELECT" in got.span_names()  # Tortoise is still instrumented
    assert not {"GET", "SET", "MGET"} & got.span_names()  # Redis is not


@pytest.mark.parametrize(("timeout", "fails"), [("0.3", True), ("5", False)])
def test_the_export_timeout(
    base_env: dict[str, str], tmp_path: Path, timeout: str, fails: bool
) -> None:
    """A collector that takes a second to answer: an export gives up after the timeout (seconds,
    as Python's exporters read it), and the API says so once."""
    env = {**base_env, "OTEL_LOGS_EXPORTER": "none", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": timeout}
    with OtlpSink(delay_seconds=1.0) as sink:
        got = run(env, sink, tmp_path / "api.log")
    failing = got.log_text.count('"telemetry.export_failing"')
    assert failing == (1 if fails else 0), got.log_text[-2000:]


def test_an_unsupported_protocol_stops_the_api_with_the_reason(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    log_path = tmp_path / "api.log"
    with OtlpSink() as sink, pytest.raises(ServerUnavailable, match="exited on start"):
        run({**base_env, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, sink, log_path)
    assert "no otlp_proto_grpc exporter installed" in log_path.read_text()
