"""A corrupt fault store cannot wedge the lab: real processes (a control service and an API
replica) on a real Redis, the store corrupted in every way we could think of while the replica
serves traffic with a fault on. The replica keeps serving, the good fault stays on and the bad
ones stay off, every bad entry is reported once (log, metric, control API, console, CLI),
changes and TTLs still reach the replica, a replica started meanwhile starts, and heal removes
everything."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from faultline.faults.catalogue import MAX_TTL_SECONDS
from faultline.faults.store import KEY_PREFIX
from labkit.api import prepare_database, process_env, running_api
from labkit.servers import Postgres, Redis
from tests.support.browser import headless_chromium
from tests.support.figures import record
from tests.support.metrics import parse, value

pytestmark = pytest.mark.slow
TOKEN = "store-robustness-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def entry(params: object, ttl: float = 600, **overrides: object) -> str:
    now = time.time()
    return json.dumps({"params": params, "enabled_at": now, "expires_at": now + ttl, **overrides})


# Each way a store entry can be bad, under a fault's key, and what the report says about it.
CORRUPTIONS: dict[str, tuple[bytes | str, str]] = {
    "slow_queries": ("{not json", "not JSON"),
    "cache_outage": (b"\xff\xfe\x00garbage", "not JSON"),
    "pool_exhaustion": ("[1, 2, 3]", "not an object"),
    "memory_leak": (json.dumps({"params": {}}), "not an object"),
    "errors": (entry({"probability": 5.0}), "bounds: probability"),
    "event_loop_block": (entry({}, ttl=MAX_TTL_SECONDS * 10), "beyond the longest TTL"),
    "n_plus_one": (entry({}, enabled_at="yesterday"), "enabled_at is not a number"),
}


@dataclass
class Traffic:
    """Requests to one replica from a thread, as a load generator would send them."""

    url: str
    statuses: Counter[int] = field(default_factory=Counter)
    failures_at: list[float] = field(default_factory=list)  # when each non-200 came back
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as http:
            product = 1
            while not self.stop.is_set():
                try:
                    status = http.get(f"/api/v1/products/{product}").status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__  # type: ignore[assignment]
                self.statuses[status] += 1
                if status != 200:
                    self.failures_at.append(time.monotonic())
                product = product % 20 + 1


@contextlib.contextmanager
def traffic_to(url: str) -> Iterator[Traffic]:
    traffic = Traffic(url)
    thread = threading.Thread(target=traffic.run, daemon=True)
    thread.start()
    try:
        yield traffic
    finally:
        traffic.stop.set()
        thread.join(timeout=15)


def metric(replica: str, name: str, labels: dict[str, str] | None = None) -> float:
    return value(parse(httpx.get(f"{replica}/metrics", timeout=5).text), name, labels or {})


def wait_for(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s")
        time.sleep(0.05)


def log_events(path: Path, event: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


@pytest.fixture(scope="module")
def lab(
    real_servers: tuple[Postgres, Redis], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, dict[str, str], Path, redis.Redis]]:
    postgres, redis_server = real_servers
    logs = tmp_path_factory.mktemp("store-robustness")
    url = asyncio.run(postgres.create_database("faultline_store_robustness"))
    prepare_database(url, catalogue_size=20)
    env = process_env(url, redis_server.url, TOKEN)
    client = redis_server.client()
    with (
        running_api(env, logs / "control.log", "control") as control,
        running_api(env, logs / "api.log") as replica,
    ):
        yield control, replica, env, logs, client
    with contextlib.suppress(httpx.HTTPError):
        httpx.delete(f"{control}/api/faults", headers=AUTH, timeout=5)


def test_a_corrupt_store_is_reported_and_skipped_while_the_lab_keeps_working(
    lab: tuple[str, str, dict[str, str], Path, redis.Redis],
) -> None:
    control, replica, env, logs, store = lab
    on = httpx.put(
        f"{control}/api/faults/latency",
        json={"params": {"delay_ms": 30, "jitter_ms": 0}},
        headers=AUTH,
    )
    assert on.status_code == 200, on.text
    wait_for(lambda: metric(replica, "fault_active", {"fault": "latency"}) == 1)

    with traffic_to(replica) as traffic:
        for name, (raw, _) in CORRUPTIONS.items():
            store.set(KEY_PREFIX + name, raw)
        # A well-formed entry whose time is up, which Redis kept (no TTL): off all the same.
        store.set(KEY_PREFIX + "lock_contention", entry({}, ttl=-5, enabled_at=time.time() - 60))
        # Something else under the prefix: not a fault, never read, but heal removes it.
        store.hset(KEY_PREFIX + "meteor_strike", "params", "{}")
        store.publish("faultline:faults:changed", "*")
        time.sleep(1.5)  # the replica's next sync, whatever the message did

        # The control service lists the catalogue and says what it refused.
        listing = httpx.get(f"{control}/api/faults", timeout=5)
        assert listing.status_code == 200, listing.text
        states = {f["name"]: f["active"] for f in listing.json()["faults"]}
        assert states == {name: name == "latency" for name in states}
        problems = {p["key"]: p["problem"] for p in listing.json()["store_problems"]}
        assert set(problems) == {KEY_PREFIX + name for name in CORRUPTIONS}
        for name, (_, says) in CORRUPTIONS.items():
            assert says in problems[KEY_PREFIX + name], (name, problems[KEY_PREFIX + name])
        assert metric(replica, "fault_store_invalid_entries") == len(CORRUPTIONS)
        for name in [*CORRUPTIONS, "lock_contention"]:
            assert metric(replica, "fault_active", {"fault": name}) == 0, name
        assert metric(replica, "fault_active", {"fault": "latency"}) == 1

        # The console and the CLI say so too.
        with headless_chromium() as browser:
            browser.get(control)
            banner = WebDriverWait(browser, 10).until(
                lambda d: d.find_element(By.ID, "store-problems").text or None
            )
        assert all(KEY_PREFIX + name in banner for name in CORRUPTIONS), banner
        cli = subprocess.run(
            [sys.executable, "-m", "faultline.cli", "faults"],
            env={**os.environ, "FAULTLINE_CONTROL_URL": control},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.count("refused store entry") == len(CORRUPTIONS), cli.stdout

        # A replica that starts now starts, with the good fault on.
        with running_api(env, logs / "api-newcomer.log") as newcomer:
            assert metric(newcomer, "fault_active", {"fault": "latency"}) == 1
            assert httpx.get(f"{newcomer}/api/v1/products/1", timeout=5).status_code == 200

        # The sync loop is alive: a real change replaces a bad entry, and its TTL still expires.
        errors_on = time.monotonic()
        changed = httpx.put(
            f"{control}/api/faults/errors",
            json={"params": {"probability": 1.0}, "ttl_seconds": 2},
            headers=AUTH,
        )
        assert changed.status_code == 200, changed.text
        wait_for(lambda: metric(replica, "fault_active", {"fault": "errors"}) == 1, timeout=2)
        wait_for(lambda: metric(replica, "fault_active", {"fault": "errors"}) == 0, timeout=5)
        errors_off = time.monotonic() + 0.5  # a request answered as the fault went off

        time.sleep(2.5)  # a few more sync ticks with the bad entries still there
        healed = httpx.delete(f"{control}/api/faults", headers=AUTH, timeout=5)
        assert healed.status_code == 200, healed.text
        assert healed.json()["healed"] == ["latency"]
        wait_for(lambda: metric(replica, "fault_active", {"fault": "latency"}) == 0)
        wait_for(lambda: metric(replica, "fault_store_invalid_entries") == 0)
        served_after_heal = sum(traffic.statuses.values())
        time.sleep(0.5)

    assert store.keys(KEY_PREFIX + "*") == []
    assert sum(traffic.statuses.values()) > served_after_heal > 50
    # Only the two seconds of the real `errors` fault answered 500; nothing else failed.
    assert set(traffic.statuses) <= {200, 500}, traffic.statuses
    assert all(errors_on <= at <= errors_off for at in traffic.failures_at)
    # Each bad entry was reported once, not once per second.
    reported = Counter(
        str(e["key"]) for e in log_events(logs / "api.log", "fault.store_entry_invalid")
    )
    assert reported == {KEY_PREFIX + name: 1 for name in CORRUPTIONS}
    assert not log_events(logs / "api.log", "fault.sync_failed")
    record(
        "corrupted_fault_store",
        {
            "bad_entries": len(CORRUPTIONS),
            "kinds": sorted({says for _, says in CORRUPTIONS.values()}),
            "requests_served_meanwhile": sum(traffic.statuses.values()),
            "statuses": dict(traffic.statuses),
            "reported_once_each": True,
            "replica_started_meanwhile": "served, good fault on",
            "ttl_expired_meanwhile": True,
            "heal": "200, every key under the prefix gone",
        },
    )
