"""Soak: sustained shopper load with faults off; memory, file descriptors and connections stay flat.

The API runs with its full default telemetry, exporting to an OTLP receiver (a stand-in for the
collector: labkit/otlp_sink.py says why), and its stock keeper on, under the project's own
Locust shoppers (loadtest/locustfile.py, every journey, closed loop) for SOAK_SECONDS (45 in
`make test`; `make hardening` runs 300). Every 5 s: the API's RSS and open fds from /proc, its
PostgreSQL connections (pg_stat_activity) and Redis clients (CLIENT LIST).

Flat means: after a warm-up third, the median RSS of the last third is within 10% (at least
16 MiB) of the middle third's; open fds do not grow from the middle third to the last; PostgreSQL
connections and Redis clients never exceed their pools' sizes.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from faultline.config import Settings
from faultline.faults.runtime import STORE_CONNECTIONS
from labkit.api import api_process
from labkit.net import free_port
from labkit.otlp_sink import OtlpSink
from labkit.servers import Redis
from tests.hardening.conftest import HARDENING_REDIS_DB, SEEDED_PRODUCTS, api_env, redis_url
from tests.support.figures import record
from tests.support.loadgen import headless_locust

SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "45"))
SAMPLE_EVERY = 5.0
POOL_MAX = 10
REDIS_POOL_MAX = Settings.model_fields["redis_max_connections"].default
USERS = 30


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def postgres_connections(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'faultline-api'"
            )
        )
    finally:
        await connection.close()


def api_redis_clients(client: redis.Redis) -> int:
    """Clients on the hardening database, but for this one."""
    mine = client.client_id()
    return sum(
        1
        for c in client.client_list()
        if int(c["db"]) == HARDENING_REDIS_DB and int(c["id"]) != mine
    )


def thirds(values: list[float]) -> tuple[list[float], list[float]]:
    third = max(1, len(values) // 3)
    return values[third : 2 * third], values[2 * third :]


@pytest.mark.parametrize("collector", ["up", "down"])
async def test_soak_memory_and_connections_stay_flat(
    collector: str, hardening_database: str, redis_server: Redis, tmp_path: Path
) -> None:
    """With the collector down, every request is traced (the export queues fill at once): they
    must stay bounded, and memory flat."""
    assert SOAK_SECONDS >= 30, "a soak shorter than 30 s says nothing"
    direct_redis = redis.Redis.from_url(redis_url(redis_server))
    with OtlpSink() as sink:
        telemetry = (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
            if collector == "up"
            else {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
                "OTEL_TRACES_SAMPLER_ARG": "1",
            }
        )
        env = api_env(
            hardening_database,
            redis_server,
            OTEL_SDK_DISABLED="false",
            **telemetry,
            STOCK_REPLENISH_INTERVAL_SECONDS="5",  # shoppers buy for minutes: keep stock up
            DB_POOL_MAX_SIZE=str(POOL_MAX),
            LOG_LEVEL="warning",
        )
        with api_process(env, tmp_path / "api.log") as (url, process):
            locust_log = tmp_path / "locust.log"
            locust = headless_locust(
                url,
                SEEDED_PRODUCTS,
                {
                    "LOAD_PROFILE": "steady",
                    "LOAD_USERS": str(USERS),
                    "LOAD_SPAWN_RATE": str(USERS),
                    "LOAD_DURATION": f"{SOAK_SECONDS + 10}s",
                    "LOAD_WAIT_MIN": "0.05",
                    "LOAD_WAIT_MAX": "0.2",
                    "LOADGEN_METRICS_PORT": "0",
                },
                locust_log,
            )
            samples: list[dict[str, float]] = []
            try:
                await asyncio.sleep(3)  # shoppers spawned
                started = time.monotonic()
                while time.monotonic() - started < SOAK_SECONDS:
                    await asyncio.sleep(SAMPLE_EVERY)
                    samples.append(
                        {
                            "t": round(time.monotonic() - started, 1),
                            "rss_mib": round(rss_mib(process.pid), 1),
                            "fds": open_fds(process.pid),
                            "postgres": await postgres_connections(hardening_database),
                            "redis": api_redis_clients(direct_redis),
                        }
                    )
                    assert locust.poll() is None, locust_log.read_text()[-3000:]
                metrics = httpx.get(f"{url}/metrics", timeout=5).text
            finally:
                locust.terminate()
                locust.wait(timeout=30)
                output = locust_log.read_text(errors="replace")
    direct_redis.close()

    requests_done = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("http_requests_total{")
    )
    rss = [s["rss_mib"] for s in samples]
    middle, last = thirds(rss)
    rss_growth = statistics.median(last) - statistics.median(middle)
    fds_mid, fds_last = thirds([s["fds"] for s in samples])
    figures = {
        "collector": collector,
        "seconds": SOAK_SECONDS,
        "shoppers": USERS,
        "requests_served": int(requests_done),
        "requests_per_second": round(requests_done / (SOAK_SECONDS + 3), 1),
        "rss_mib_first_middle_last": [
            rss[0],
            round(statistics.median(middle), 1),
            round(statistics.median(last), 1),
        ],
        "rss_growth_mib_middle_to_last_third": round(rss_growth, 1),
        "fds_min_max": [min(s["fds"] for s in samples), max(s["fds"] for s in samples)],
        "postgres_connections_max": max(s["postgres"] for s in samples),
        "redis_clients_max": max(s["redis"] for s in samples),
        "samples": samples,
    }
    record(f"soak_collector_{collector}", figures)
    assert requests_done > 20 * SOAK_SECONDS, (figures, output[-2000:])
    assert rss_growth <= max(16.0, 0.10 * statistics.median(middle)), figures
    assert max(fds_last) <= max(fds_mid) + 5, figures
    assert max(s["postgres"] for s in samples) <= POOL_MAX, figures
    # The cache's pool is bounded (it grew with the requests in flight, 21 at 30 shoppers, until
    # the soak found it); the fault runtime has its own few connections besides.
    assert max(s["redis"] for s in samples) <= REDIS_POOL_MAX + STORE_CONNECTIONS, figures
