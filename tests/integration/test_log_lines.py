"""Every line the API writes to stdout is a JSON object, the standard library's included: start,
traffic, a fault, a malformed request uvicorn itself complains about, and a SIGTERM shutdown. The
standard library's warnings reach OTLP (Loki) like the API's own."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from labkit.api import api_process, process_env, running_api
from labkit.otlp_sink import OtlpSink
from labkit.servers import Redis

pytestmark = pytest.mark.slow
TOKEN = "log-lines-test-token-0123456789"


def test_every_stdout_line_is_json_from_start_to_shutdown(
    database_url: str, redis_server: Redis, tmp_path: Path
) -> None:
    # A Redis database of its own: the fault switched on here must not reach other tests.
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/7"
    env = process_env(database_url, redis_url, TOKEN, OTEL_SDK_DISABLED="false")
    log_path = tmp_path / "api.log"
    with (
        OtlpSink() as sink,
        running_api(env, tmp_path / "control.log", command="control") as control,
        api_process(
            {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_TRACES_SAMPLER_ARG": "1"},
            log_path,
        ) as (url, process),
    ):
        with httpx.Client(base_url=url, timeout=10) as http:
            http.get("/api/v1/products/1").raise_for_status()
            http.get("/api/v1/products/not-a-number")  # 422
            headers = {"Authorization": f"Bearer {TOKEN}"}
            httpx.put(
                f"{control}/api/faults/errors",
                json={"params": {"probability": 1.0}, "ttl_seconds": 30},
                headers=headers,
            ).raise_for_status()
            deadline = time.monotonic() + 10
            while http.get("/api/v1/products/1").status_code < 500:  # the replica has synced
                assert time.monotonic() < deadline, "the errors fault never took effect"
                time.sleep(0.2)
            httpx.delete(f"{control}/api/faults", headers=headers).raise_for_status()
        # Bytes that are not HTTP: uvicorn (a standard-library logger) warns about them.
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port)) as raw:
            raw.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            raw.recv(1024)
        time.sleep(1.5)  # the log records' batch
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    lines = log_path.read_text().splitlines()
    parsed = []
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"line {number} of {len(lines)} is not JSON: {line!r}")
    events = [entry.get("event") for entry in parsed]
    assert "api.started" in events and "api.stopped" in events
    assert any(entry.get("status", 0) >= 500 for entry in parsed)  # the fault's errors
    stdlib = [entry for entry in parsed if entry.get("logger", "").startswith("uvicorn")]
    assert stdlib, "uvicorn's warning never reached stdout"
    assert all(entry["level"] == "warning" and entry["timestamp"] for entry in stdlib)
    exported = {record.body for record in sink.received.snapshot()[1]}
    assert {entry["event"] for entry in stdlib} & exported  # and it reached OTLP too
