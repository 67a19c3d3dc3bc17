"""The load generator's client-side metrics in distributed mode (loadtest/client_metrics.py): what
two workers ship and a master merges is exactly what one process counting everything exposes,
in the same exposition as prometheus_client's own Counter and Histogram (so the dashboards' `le`
values and series names do not change)."""

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from loadtest.client_metrics import BUCKETS, ClientMetrics

JOURNEYS = [("view: GET /products/{id}", "GET"), ("order: POST /orders", "POST")]


def samples(count: int, seed: int) -> list[tuple[str, str, str, float]]:
    rng = random.Random(seed)
    return [
        (*rng.choice(JOURNEYS), rng.choice(["success", "failure"]), rng.expovariate(20))
        for _ in range(count)
    ]


def exposition(metrics: ClientMetrics) -> str:
    registry = CollectorRegistry()
    registry.register(metrics)
    return generate_latest(registry).decode()


def series(text: str) -> dict[str, float]:
    """Each series and its value (sums rounded: added in another order, floats differ in the
    last digits); no `_created` series."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    pairs = (line.rsplit(" ", 1) for line in lines if "_created" not in line)
    return {key: round(float(value), 9) for key, value in pairs}


def test_a_master_merging_two_workers_exposes_what_one_process_would() -> None:
    alone, master, workers = ClientMetrics(), ClientMetrics(), [ClientMetrics(), ClientMetrics()]
    for report in range(3):  # three rounds of Locust's stats reports
        for number, worker in enumerate(workers):
            for sample in samples(200, seed=report * 10 + number):
                worker.observe(*sample)
                alone.observe(*sample)
            master.merge(worker.take())
    assert series(exposition(master)) == series(exposition(alone))
    assert len(series(exposition(alone))) == 4 + 2 * (len(BUCKETS) + 3)
    assert all(exposition(worker).count("loadgen_requests_total{") == 0 for worker in workers)


def test_the_exposition_is_prometheus_clients_own() -> None:
    """The same observations through prometheus_client's Counter and Histogram give the same
    text (its Counter adds `_created` series; a merged counter has no single creation time)."""
    ours = ClientMetrics()
    registry = CollectorRegistry()
    requests = Counter("loadgen_requests", "x", ["name", "method", "result"], registry=registry)
    durations = Histogram(
        "loadgen_request_duration_seconds", "x", ["name", "method"], buckets=BUCKETS,
        registry=registry,
    )  # fmt: skip
    for name, method, result, seconds in samples(500, seed=7):
        ours.observe(name, method, result, seconds)
        requests.labels(name, method, result).inc()
        durations.labels(name, method).observe(seconds)

    assert series(exposition(ours)) == series(generate_latest(registry).decode())


def test_a_shipment_with_other_buckets_is_refused_whole() -> None:
    master, other = ClientMetrics(), ClientMetrics(buckets=(0.1, 1.0))
    other.observe("view: GET /products/{id}", "GET", "success", 0.05)
    with pytest.raises(ValueError, match="buckets differ"):
        master.merge(other.take())
    assert "loadgen_requests_total{" not in exposition(master)
