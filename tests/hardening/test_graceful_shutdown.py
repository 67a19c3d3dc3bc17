"""SIGTERM under load: drain, finish what is in flight, flush telemetry, close pools, exit.

The API runs as its own uvicorn process with tracing on, exporting to an OTLP receiver (a
stand-in for the collector: labkit/otlp_sink.py says why), and slow requests in flight
(the latency fault) when SIGTERM arrives.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx

from faultline.faults.store import FaultStore
from labkit.api import api_process
from labkit.otlp_sink import OtlpSink
from labkit.servers import Redis
from tests.hardening.conftest import Faults, api_env
from tests.support.figures import record

IN_FLIGHT = 40
DELAY_MS = 2500
DRAIN_SECONDS = 1.5
EXIT_BOUND_SECONDS = 12  # drain + the slowest in-flight request + lifespan shutdown, with room


async def api_connections(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'faultline-api'"
        )
        return int(count)
    finally:
        await connection.close()


async def test_sigterm_under_load_drains_and_finishes_in_flight_requests(
    hardening_database: str, redis_server: Redis, fault_store: FaultStore, tmp_path: Path
) -> None:
    with OtlpSink() as sink:
        env = api_env(
            hardening_database,
            redis_server,
            OTEL_SDK_DISABLED="false",
            OTEL_TRACES_SAMPLER_ARG="1",
            OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="30000",  # nothing leaves before shutdown flushes it
            SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS),
            DB_POOL_MIN_SIZE="4",
            LOG_LEVEL="info",
        )
        with api_process(env, tmp_path / "api.log") as (url, process):
            assert httpx.get(f"{url}/api/v1/products/1").status_code == 200  # opens the pool
            assert await api_connections(hardening_database) > 0
            await Faults(fault_store, url).on("latency", delay_ms=DELAY_MS, jitter_ms=0)
            async with httpx.AsyncClient(
                base_url=url, timeout=30, limits=httpx.Limits(max_connections=IN_FLIGHT + 5)
            ) as http:
                in_flight = [
                    asyncio.create_task(http.get(f"/api/v1/products/{1 + i % 50}"))
                    for i in range(IN_FLIGHT)
                ]
                await asyncio.sleep(0.5)  # all of them are inside the handler, sleeping
                signalled = time.monotonic()
                process.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.2)

                # Draining: still answering, but no longer ready.
                async with httpx.AsyncClient(base_url=url, timeout=5) as fresh:
                    ready = await fresh.get("/health/ready")
                    live = await fresh.get("/health/live")
                assert ready.status_code == 503, ready.text
                assert ready.json()["error"]["code"] == "draining"
                assert live.status_code == 200

                # After the drain, new connections are refused.
                await asyncio.sleep(DRAIN_SECONDS + 0.3)
                refused = False
                try:
                    async with httpx.AsyncClient(base_url=url, timeout=2) as fresh:
                        await fresh.get("/health/live")
                except httpx.ConnectError:
                    refused = True
                assert refused, "a new connection was accepted after the drain"

                responses = await asyncio.gather(*in_flight, return_exceptions=True)
            statuses = [
                r.status_code if isinstance(r, httpx.Response) else repr(r) for r in responses
            ]
            assert statuses == [200] * IN_FLIGHT, statuses

            try:
                returncode = process.wait(timeout=EXIT_BOUND_SECONDS)
            except subprocess.TimeoutExpired as exc:
                raise AssertionError("the API did not exit within the bound") from exc
            exited_after = time.monotonic() - signalled
            # uvicorn re-raises the signal once it has shut down cleanly: killed by SIGTERM, after
            # a graceful shutdown, is its normal exit (docker sees 143).
            assert returncode in (0, -signal.SIGTERM), returncode

        # Pools closed: no connection of the API is left in PostgreSQL.
        assert await api_connections(hardening_database) == 0
        # Telemetry flushed: with a 30 s batch delay, only the shutdown flush can have sent the
        # in-flight requests' spans.
        server_spans = [s for s in sink.spans() if s.parent_span_id == "" and "products" in s.name]
        assert len(server_spans) >= IN_FLIGHT, len(server_spans)
        log_text = (tmp_path / "api.log").read_text()
        assert "api.draining" in log_text
        # The lifespan's last line, written out although SIGTERM ends the process (no atexit).
        assert '"event":"api.stopped"' in log_text

    record(
        "graceful_shutdown",
        {
            "in_flight_at_sigterm": IN_FLIGHT,
            "completed_200": statuses.count(200),
            "drain_seconds": DRAIN_SECONDS,
            "exit_seconds_after_sigterm": round(exited_after, 2),
            "exit_bound_seconds": EXIT_BOUND_SECONDS,
            "server_spans_flushed": len(server_spans),
            "api_connections_left": 0,
        },
    )
