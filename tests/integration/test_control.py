"""The control plane across processes: a control service and two API replicas sharing one Redis,
all real processes. Auth, validation, shared state within a second, TTL expiry, a restarted
replica picking up the current faults, and failing safe when the fault store goes away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faultline.faults.catalogue import CATALOGUE
from labkit.api import prepare_database, process_env, running_api
from labkit.servers import Redis, servers
from tests.support.metrics import parse, value

pytestmark = pytest.mark.slow
TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Lab:
    def __init__(
        self,
        control: str,
        replicas: list[str],
        env: dict[str, str],
        logs: Path,
        redis_server: Redis,
    ) -> None:
        self.control = control
        self.replicas = replicas
        self.env = env
        self.logs = logs
        self.redis = redis_server

    def fault_active(self, replica: str, name: str) -> float:
        return value(
            parse(httpx.get(f"{replica}/metrics", timeout=5).text), "fault_active", {"fault": name}
        )

    def wait_all(self, name: str, expected: float, timeout: float = 5.0) -> float:
        """Seconds until every replica reports fault_active == expected."""
        started = time.monotonic()
        while any(self.fault_active(r, name) != expected for r in self.replicas):
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{name} not {expected} on every replica after {timeout}s")
            time.sleep(0.05)
        return time.monotonic() - started


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    logs = tmp_path_factory.mktemp("control-lab")
    with servers(controllable=True) as (postgres, redis_server):
        url = asyncio.run(postgres.create_database("faultline_control"))
        prepare_database(url, catalogue_size=20)
        # The failed-authentication limit has its own test (tests/hardening/test_security.py).
        env = process_env(
            url,
            redis_server.url,
            TOKEN,
            FAULT_STORE_GRACE_SECONDS="2",
            CONTROL_FAILED_AUTH_LIMIT="1000/minute",
        )
        with contextlib.ExitStack() as stack:
            control = stack.enter_context(running_api(env, logs / "control.log", "control"))
            replicas = [
                stack.enter_context(
                    running_api({**env, "REPLICA_NAME": f"api-{i}"}, logs / f"api-{i}.log")
                )
                for i in (1, 2)
            ]
            yield Lab(control, replicas, env, logs, redis_server)


@pytest.fixture(autouse=True)
def healed(lab: Lab) -> Iterator[None]:
    yield
    with contextlib.suppress(httpx.HTTPError):
        httpx.delete(f"{lab.control}/api/faults", headers=AUTH, timeout=5)


def test_catalogue_is_listed_with_schemas_and_state(lab: Lab) -> None:
    faults = httpx.get(f"{lab.control}/api/faults").json()["faults"]
    assert [f["name"] for f in faults] == list(CATALOGUE)
    latency = next(f for f in faults if f["name"] == "latency")
    assert latency["active"] is False and latency["targets_routes"] is True
    assert latency["defaults"]["delay_ms"] == 300
    assert latency["params_schema"]["properties"]["delay_ms"]["maximum"] == 10_000
    assert "http_request_duration_seconds" in latency["signals"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": "Basic dGVzdA=="},
    ],
)
def test_writes_without_the_token_are_401(lab: Lab, headers: dict[str, str]) -> None:
    for method, path in (
        ("PUT", "/api/faults/latency"),
        ("DELETE", "/api/faults/latency"),
        ("DELETE", "/api/faults"),
    ):
        response = httpx.request(
            method, f"{lab.control}{path}", json={} if method == "PUT" else None, headers=headers
        )
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "unauthorized"
    assert lab.fault_active(lab.replicas[0], "latency") == 0


def test_unknown_fault_is_404(lab: Lab) -> None:
    response = httpx.put(f"{lab.control}/api/faults/meteor_strike", json={}, headers=AUTH)
    assert response.status_code == 404
    assert "meteor_strike" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"params": {"delay_ms": -1}},
        {"params": {"delay_ms": 10_001}},
        {"params": {"delay_ms": "slow"}},
        {"params": {"probability": 1.5}},
        {"params": {"routes": ["/admin"]}},
        {"params": {"colour": "red"}},
        {"ttl_seconds": 0},
        {"ttl_seconds": 99_999},
        {"params": {}, "extra": True},
    ],
)
def test_bad_parameters_are_422(lab: Lab, body: dict[str, object]) -> None:
    response = httpx.put(f"{lab.control}/api/faults/latency", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]
    assert httpx.get(f"{lab.control}/api/faults").json()["faults"][0]["active"] is False


def test_both_replicas_see_a_change_within_a_second(lab: Lab) -> None:
    response = httpx.put(
        f"{lab.control}/api/faults/latency",
        json={"params": {"delay_ms": 250, "jitter_ms": 0}},
        headers=AUTH,
    )
    assert response.status_code == 200 and response.json()["active"] is True
    assert 895 <= response.json()["seconds_left"] <= 900  # the default TTL: 15 minutes
    assert lab.wait_all("latency", 1) < 1.0
    for replica in lab.replicas:
        started = time.monotonic()
        assert httpx.get(f"{replica}/api/v1/products/2").status_code == 200
        assert time.monotonic() - started >= 0.25
    assert httpx.delete(f"{lab.control}/api/faults/latency", headers=AUTH).json()["active"] is False
    assert lab.wait_all("latency", 0) < 1.0
    audit = [
        json.loads(line)
        for line in (lab.logs / "control.log").read_text().splitlines()
        if "fault.audit" in line
    ]
    assert [a["action"] for a in audit[-2:]] == ["enable", "disable"]
    assert audit[-2]["params"]["delay_ms"] == 250


def test_a_fault_on_one_replica_acts_on_that_replica_only(lab: Lab) -> None:
    """replica=api-2: requests fail there and not on api-1; each replica's fault_active says
    where it acts, and every process (both replicas, the control service) says where it is on
    (fault_scope); the control service's fault_active counts it as on in the lab. Unscoped again,
    it acts on both."""
    api_1, api_2 = lab.replicas
    body = {"params": {"probability": 1.0, "replica": "api-2"}}
    response = httpx.put(f"{lab.control}/api/faults/errors", json=body, headers=AUTH)
    assert response.status_code == 200 and response.json()["params"]["replica"] == "api-2"
    started = time.monotonic()
    while lab.fault_active(api_2, "errors") != 1:
        assert time.monotonic() - started < 2, "api-2 never switched errors on"
        time.sleep(0.05)
    assert lab.fault_active(api_1, "errors") == 0
    assert httpx.get(f"{api_2}/api/v1/products/2").status_code == 500
    assert httpx.get(f"{api_1}/api/v1/products/2").status_code == 200
    for process in (api_1, api_2, lab.control):
        samples = parse(httpx.get(f"{process}/metrics", timeout=5).text)
        assert value(samples, "fault_scope", {"fault": "errors", "replica": "api-2"}) == 1
    assert lab.fault_active(lab.control, "errors") == 1
    table = subprocess.run(
        [sys.executable, "-m", "faultline.cli", "faults"],
        env={**os.environ, "FAULTLINE_CONTROL_URL": lab.control},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (row,) = [line.split() for line in table.splitlines() if line.startswith("errors ")]
    assert row[1:4] == ["ON", row[2], "api-2"] and "replica" not in " ".join(row), table
    switched = [
        json.loads(line)
        for line in (lab.logs / "api-2.log").read_text().splitlines()
        if '"fault.on"' in line
    ]
    assert switched[-1]["replica"] == "api-2" and switched[-1]["params"]["replica"] == "api-2"
    body = {"params": {"probability": 1.0}}
    assert httpx.put(f"{lab.control}/api/faults/errors", json=body, headers=AUTH).is_success
    assert lab.wait_all("errors", 1) < 1.0
    assert httpx.get(f"{api_1}/api/v1/products/2").status_code == 500
    # A name that cannot be a replica's is refused before it reaches the store.
    bad = httpx.put(
        f"{lab.control}/api/faults/errors", json={"params": {"replica": "API 2"}}, headers=AUTH
    )
    assert bad.status_code == 422 and "replica" in bad.text


def test_faults_switch_themselves_off_after_their_ttl(lab: Lab) -> None:
    httpx.put(
        f"{lab.control}/api/faults/errors",
        json={"params": {"probability": 1.0}, "ttl_seconds": 2},
        headers=AUTH,
    )
    lab.wait_all("errors", 1)
    assert httpx.get(f"{lab.replicas[0]}/api/v1/products/3").status_code == 500
    lab.wait_all("errors", 0, timeout=4)
    assert httpx.get(f"{lab.replicas[1]}/api/v1/products/3").status_code == 200
    state = next(
        f for f in httpx.get(f"{lab.control}/api/faults").json()["faults"] if f["name"] == "errors"
    )
    assert state["active"] is False


def test_a_restarted_replica_picks_up_the_current_faults(lab: Lab) -> None:
    httpx.put(f"{lab.control}/api/faults/cache_outage", json={}, headers=AUTH)
    lab.wait_all("cache_outage", 1)
    with running_api(lab.env, lab.logs / "api-new.log") as newcomer:
        assert lab.fault_active(newcomer, "cache_outage") == 1  # from its very first scrape


def test_heal_turns_everything_off(lab: Lab) -> None:
    for name in ("latency", "n_plus_one"):
        httpx.put(f"{lab.control}/api/faults/{name}", json={}, headers=AUTH)
    healed = httpx.delete(f"{lab.control}/api/faults", headers=AUTH).json()["healed"]
    assert sorted(healed) == ["latency", "n_plus_one"]
    lab.wait_all("latency", 0)
    lab.wait_all("n_plus_one", 0)


def test_losing_the_fault_store_fails_safe(lab: Lab) -> None:
    httpx.put(f"{lab.control}/api/faults/latency", json={"params": {"delay_ms": 400}}, headers=AUTH)
    lab.wait_all("latency", 1)
    lab.redis.stop()
    try:
        # Grace is 2 s here: within a few seconds every replica has switched the fault off.
        assert lab.wait_all("latency", 0, timeout=6) < 6
        for replica in lab.replicas:
            started = time.monotonic()
            assert httpx.get(f"{replica}/api/v1/products/4").status_code == 200  # from PostgreSQL
            assert time.monotonic() - started < 0.4
        assert httpx.get(f"{lab.control}/api/faults").status_code == 503  # the control says so
    finally:
        lab.redis.start()
    lab.wait_all("latency", 0)  # an empty Redis came back: nothing to re-apply
    logs = (lab.logs / "api-1.log").read_text()
    assert "fault.fail_safe" in logs and "fault.store_unreachable" in logs
