"""The native lab, for real: `make up REPLICAS=3 LOADGEN_WORKERS=2` with no Docker engine starts it
(once): three API replicas behind the proxy, each its own target; Locust as a master and two
workers, the master's client-side metrics counting for both; the console shows live charts with data in
headless Chromium, for the lab and per replica; every row of the signal contract holds against its
Prometheus under Locust load (a fault on one replica shows on that replica's series only); and
`make down` leaves no process behind.

The lab runs on ports shifted by FAULTLINE_LAB_PORT_OFFSET and in its own directory, so the
suite can run beside a developer's own lab."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from labkit import native_lab
from labkit.prometheus import Prometheus
from tests.support.browser import headless_chromium
from tests.support.native_lab import TEST_PORT_OFFSET

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
OFFSET = TEST_PORT_OFFSET
PORTS = native_lab.ports(OFFSET)
CONTROL = f"http://127.0.0.1:{PORTS['control']}"
PROMETHEUS = f"http://127.0.0.1:{PORTS['prometheus']}"
LAB_PROMETHEUS = Prometheus(PROMETHEUS)
API = f"http://127.0.0.1:{PORTS['api']}"
TOKEN = "lab-test-token"
REPLICAS = ["api-1", "api-2", "api-3"]
WORKERS = ["loadgen-worker-1", "loadgen-worker-2"]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONTRACT: dict[str, Any] = yaml.safe_load((ROOT / "scenarios" / "signal-contract.yml").read_text())
OUTPUT = ROOT / "test-output"
MEASURED: dict[str, dict[str, float | None]] = {}
STEP = 5  # the lab's scrape interval: a signal is seen on the scrape after it moves
ALERTMANAGER: dict[str, Any] = yaml.safe_load(
    (ROOT / "alertmanager" / "alertmanager.yml").read_text()
)
SEVERITY = {
    rule["alert"]: rule["labels"]["severity"]
    for group in yaml.safe_load(
        (ROOT / "prometheus" / "rules" / "faultline.rules.yml").read_text()
    )["groups"]
    for rule in group["rules"]
    if "alert" in rule
}


def route_of(severity: str) -> tuple[str, float]:
    """The Alertmanager receiver for a severity, and the longest that route holds a newly firing
    alert back: its group wait (a new group), or its group interval (a group that notified
    before in this lab, when the same alert fired earlier)."""
    tree = ALERTMANAGER["route"]
    for route in tree["routes"]:
        if f'severity="{severity}"' in route["matchers"]:
            waits = (route.get(key, tree[key]) for key in ("group_wait", "group_interval"))
            return route["receiver"], max(duration_s(wait) for wait in waits)
    raise KeyError(severity)


def duration_s(duration: str) -> float:
    """An Alertmanager duration of one unit ("15s", "1m", "4h"), in seconds."""
    number, unit = re.fullmatch(r"(\d+)([smh])", duration).groups()  # type: ignore[union-attr]
    return float(number) * {"s": 1, "m": 60, "h": 3600}[unit]


def pages_since(since: float) -> list[dict[str, Any]]:
    incidents = httpx.get(f"{CONTROL}/api/incidents", timeout=5).json()["incidents"]
    return [i for i in incidents if i["paged_at"] >= since]


def make(target: str, lab_dir: Path) -> subprocess.CompletedProcess[str]:
    venv = Path(sys.executable).parent.parent
    env = {
        **os.environ,
        "FAULTLINE_LAB_DIR": str(lab_dir),
        "FAULTLINE_LAB_PORT_OFFSET": str(OFFSET),
        "FAULTLINE_ADMIN_TOKEN": TOKEN,
        "REPLICAS": str(len(REPLICAS)),
        "LOADGEN_WORKERS": str(len(WORKERS)),
        "LOADGEN_USERS": "12",
        "LOAD_WAIT_MIN": "0.1",
        "LOAD_WAIT_MAX": "0.3",
        "LOAD_WEIGHTS": "browse=2,view=4,order=3,recent=3",
        "CATALOGUE_SIZE": "1200",
    }
    return subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def lab_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="faultline-lab-"))
    try:
        yield directory
    finally:
        make("down", directory)
        shutil.rmtree(directory, ignore_errors=True)
        if MEASURED:
            OUTPUT.mkdir(exist_ok=True)
            (OUTPUT / "signal-contract.json").write_text(json.dumps(MEASURED, indent=2) + "\n")


def query(expr: str) -> float | None:
    """The largest value of the query's series now (None: no series)."""
    values = [float(r["value"][1]) for r in LAB_PROMETHEUS.query(expr)]
    return max(values) if values else None


def signal_history(expr: str, since: float) -> list[tuple[float, float | None]]:
    """Prometheus's own evaluation of `expr` every quarter second from `since` until now:
    (seconds after `since`, value or None where the signal is absent). Timing a signal this way
    does not depend on how quickly this test's polling loop got its answers on a busy machine."""
    time.sleep(1)  # the scrape that made the signal change may still be being ingested
    step, start, end = 0.25, round(since, 3), time.time()
    result = httpx.get(
        f"{PROMETHEUS}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": step},
        timeout=10,
    ).json()["data"]["result"]
    values: dict[int, float] = {}
    for series in result:
        for timestamp, value in series["values"]:
            index = round((float(timestamp) - start) / step)
            values[index] = max(values.get(index, float("-inf")), float(value))
    return [(i * step, values.get(i)) for i in range(int((end - start) / step) + 1)]


def over(value: float | None, above: float) -> bool:
    """The contract's test: the signal shows when it exists and exceeds the threshold."""
    return value is not None and value > above


def first_time(
    history: list[tuple[float, float | None]], showing: bool, above: float
) -> float | None:
    """Seconds until the signal first showed (value above the threshold) or, with showing=False,
    first did not show."""
    for offset, value in history:
        if over(value, above) is showing:
            return offset
    return None


def wait_for(predicate, timeout: float, step: float = 1.0) -> float | None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started <= timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    return None


def test_make_up_starts_the_native_lab_once(lab_dir: Path) -> None:
    first = make("up", lab_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "No Docker engine answers here: starting the native lab instead" in first.stdout
    assert "started: postgres, redis, api-1, api-2, api-3, proxy, control" in first.stdout
    assert "loadgen, loadgen-worker-1, loadgen-worker-2" in first.stdout
    assert "on 2 Locust workers" in first.stdout
    assert "Not in the native lab" in first.stdout and "Grafana" in first.stdout
    second = make("up", lab_dir)
    assert second.returncode == 0 and "started: nothing (already running)" in second.stdout
    status = make("ps", lab_dir)
    assert status.returncode == 0 and "crashed" not in status.stdout
    targets = httpx.get(f"{PROMETHEUS}/api/v1/targets").json()["data"]["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == {
        "api",
        "control",
        "loadgen",
        "postgres",
        "redis",
        "prometheus",
        "alertmanager",
    }
    # Each API replica is its own target, named as compose names its own (api-1), not by address.
    api = sorted(t["labels"]["instance"] for t in targets if t["labels"]["job"] == "api")
    assert api == REPLICAS

    # The shop's port is the proxy: the load generator's requests reach every replica.
    def served_by() -> set[str]:
        expr = 'sum by (instance) (rate(http_requests_total{job="api", handler=~"/api/.*"}[30s]))'
        return {r["metric"]["instance"] for r in LAB_PROMETHEUS.query(f"{expr} > 0")}

    assert wait_for(lambda: served_by() == set(REPLICAS), 60) is not None, served_by()
    # Locust's master runs no shoppers: the client-side counts it serves are its workers'.
    workers = httpx.get(f"http://127.0.0.1:{PORTS['loadgen']}/stats/requests").json()["workers"]
    assert len(workers) == 2 and all(w["user_count"] > 0 for w in workers), workers
    assert (
        wait_for(lambda: LAB_PROMETHEUS.query("sum(rate(loadgen_requests_total[30s])) > 0"), 30)
        is not None
    )
    # The lab's Prometheus runs the project's own rules.
    groups = httpx.get(f"{PROMETHEUS}/api/v1/rules").json()["data"]["groups"]
    assert {g["name"] for g in groups} == {
        "faultline-sli",
        "faultline-slo-alerts",
        "faultline-cause-alerts",
    }


def test_the_lab_is_closed_to_other_local_users(lab_dir: Path) -> None:
    """Loopback is shared by every user of the machine: PostgreSQL asks for a password (no
    trust), Redis has one (nobody writes fault entries past the token and the bounds), the lab's
    files are its user's only, and no secret shows in a process list."""
    psql = native_lab.Postgres().cluster.bindir / "psql"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for user in ("postgres", "faultline"):
        refused = subprocess.run(
            [
                str(psql),
                "-w",
                "-h",
                "127.0.0.1",
                "-p",
                str(PORTS["postgres"]),
                "-U",
                user,
                "-d",
                "faultline",
                "-c",
                "SELECT 1",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert refused.returncode != 0 and "password" in refused.stderr, refused
    with (
        redis.Redis(port=PORTS["redis"], socket_timeout=2) as anonymous,
        pytest.raises(redis.AuthenticationError),
    ):
        anonymous.set("faultline:fault:errors", "{}")
    secrets = dict(
        line.split("=", 1)
        for line in (lab_dir / "secrets.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert set(secrets) >= {"POSTGRES_SUPERUSER_PASSWORD", "POSTGRES_PASSWORD", "REDIS_PASSWORD"}
    assert secrets["FAULTLINE_ADMIN_TOKEN"] == TOKEN  # a token of one's own is kept
    with redis.Redis(port=PORTS["redis"], password=secrets["REDIS_PASSWORD"]) as lab_redis:
        assert lab_redis.ping()
    assert stat.S_IMODE(lab_dir.stat().st_mode) == 0o700
    readable = [
        str(path.relative_to(lab_dir))
        for path in lab_dir.rglob("*")
        if not path.is_socket() and stat.S_IMODE(path.lstat().st_mode) & 0o077
    ]
    assert not readable, readable
    leaked = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().decode(errors="replace")
            leaked += [name for name, value in secrets.items() if value in argv]
    assert not leaked, f"in a process's argv: {leaked}"


def test_wait_ready_waits_for_the_api_and_its_scrape_without_python(lab_dir: Path) -> None:
    """`make up`'s readiness wait (POSIX sh, curl, grep) against the lab's real proxy, replicas and
    Prometheus: ready with three replicas scraped; a clear failure, not a hang, for four."""
    wait = [str(ROOT / "scripts" / "wait-ready.sh"), API, PROMETHEUS]
    env = {"PATH": "/usr/bin:/bin", "WAIT_SECONDS": "3"}
    ready = subprocess.run(["sh", *wait, "3"], env=env, capture_output=True, text=True, timeout=30)
    assert ready.returncode == 0, ready.stderr
    missing = subprocess.run(
        ["sh", *wait, "4"], env=env, capture_output=True, text=True, timeout=30
    )
    assert missing.returncode == 1
    assert "has not scraped 4 API replica(s)" in missing.stderr


def test_the_console_shows_live_charts_with_data(lab_dir: Path) -> None:
    with headless_chromium(window="1400,1000") as browser:
        # Rates need two scrapes: give the lab's Prometheus a little time.
        wait_for(lambda: (query("sum(rate(http_requests_total[1m]))") or 0) > 0, 60)
        browser.get(CONTROL)
        WebDriverWait(browser, 30).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#charts .chart polyline.series")) >= 7
        )
        charts = browser.find_elements(By.CSS_SELECTOR, "#charts .chart")
        assert {c.get_attribute("data-chart") for c in charts} == {
            "requests",
            "errors",
            "latency",
            "pool",
            "loop",
            "cache",
            "memory",
        }
        for chart in charts:
            assert chart.find_elements(By.CSS_SELECTOR, "polyline.series"), chart.get_attribute(
                "data-chart"
            )
        (OUTPUT / "console").mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(OUTPUT / "console" / "native-lab-charts.png"))
        # Per replica: a line per replica where the lab's is one (what an average hides).
        browser.find_element(By.CSS_SELECTOR, 'input[name="charts-by"][value="replica"]').click()

        def legends(chart: str) -> set[str]:
            items = browser.find_elements(By.CSS_SELECTOR, f"#chart-{chart} .legend span")
            return {item.get_attribute("data-series") or "" for item in items}

        WebDriverWait(browser, 30).until(lambda _: legends("errors") == set(REPLICAS))
        assert {"server api-1", "server api-2", "server api-3", "client"} == legends("latency")
        # The fault forms offer the replicas Prometheus scrapes.
        options = browser.find_elements(By.CSS_SELECTOR, "#errors-replica option")
        assert [o.get_attribute("value") for o in options] == ["", *REPLICAS]
        browser.save_screenshot(str(OUTPUT / "console" / "native-lab-charts-per-replica.png"))


@pytest.mark.parametrize("name", list(CONTRACT["faults"]))
def test_signal_contract(lab_dir: Path, name: str) -> None:
    row = CONTRACT["faults"][name]
    fault = row.get("fault", name)
    expr, above = row["expr"], float(row["above"])

    def shows() -> bool:
        return over(query(expr), above)

    def quiet() -> bool:
        """Below the threshold for the last 20 s (more than a rate window), so what follows is
        the fault's doing and not the tail of a start-up transient or of the previous row."""
        return not over(query(f"max_over_time(({expr})[20s:1s])"), above)

    assert wait_for(quiet, 120) is not None, f"{name}: signal high before the fault"
    response = httpx.put(
        f"{CONTROL}/api/faults/{fault}",
        json={"params": row["params"], "ttl_seconds": 600},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    switched_on = time.time()
    page: dict[str, Any] | None = None
    paged_after = alert_after = None
    try:
        wait_for(shows, row["visible_within_s"] + 5)
        on_history = signal_history(expr, switched_on)
        visible = first_time(on_history, True, above)
        if row.get("alert"):

            def firing() -> bool:
                alerts = httpx.get(f"{PROMETHEUS}/api/v1/alerts").json()["data"]["alerts"]
                return any(
                    a["labels"]["alertname"] == row["alert"] and a["state"] == "firing"
                    for a in alerts
                )

            # Timed from the moment the fault was switched on, like the signal.
            elapsed = time.time() - switched_on
            waited = wait_for(firing, row["alert_within_s"] - elapsed, step=2)
            alert_after = None if waited is None else elapsed + waited
        if row.get("alert") and reaches_the_pager(name, row):
            # Then it reaches the pager, through Alertmanager's route for its severity: within
            # the row's time, what that route may hold it back, and one rule evaluation.
            receiver, group_wait = route_of(SEVERITY[row["alert"]])
            allowed = row["alert_within_s"] + group_wait + 5
            elapsed = time.time() - switched_on

            def paged() -> bool:
                return any(i["alertname"] == row["alert"] for i in pages_since(switched_on))

            wait_for(paged, allowed - elapsed, step=1)
            page = next(
                (i for i in pages_since(switched_on) if i["alertname"] == row["alert"]), None
            )
            paged_after = None if page is None else page["paged_at"] - switched_on
        if row.get("only_on"):  # after the alert's wait: the lab's 1m average has filled by then
            check_one_replica(row, fault, switched_on)
    finally:
        assert httpx.delete(f"{CONTROL}/api/faults/{fault}", headers=AUTH).status_code == 200
    switched_off = time.time()
    wait_for(lambda: not shows(), row["clear_within_s"] + 5)
    off_history = signal_history(expr, switched_off)
    cleared = first_time(off_history, False, above)
    MEASURED[name] = {"visible_s": visible, "cleared_s": cleared, "alert_firing_s": alert_after}
    assert visible is not None and visible <= row["visible_within_s"], (
        f"{name}: not visible in time ({visible}); signal after switching on: {on_history}"
    )
    if row.get("alert"):
        assert alert_after is not None, (
            f"{name}: {row['alert']} never fired within {row['alert_within_s']}s"
        )
    if row.get("alert") and reaches_the_pager(name, row):
        MEASURED[name]["paged_s"] = paged_after
        assert page is not None and paged_after is not None and paged_after <= allowed, (
            f"{name}: {row['alert']} did not reach the pager within {allowed}s: {page}"
        )
        assert page["receiver"] == receiver and fault in page["faults"], page
    # A fault on is a marker, never a page.
    assert not any(i["alertname"] == "FaultActive" for i in pages_since(0))
    assert cleared is not None and cleared <= row["clear_within_s"], (
        f"{name}: did not clear in time ({cleared}); signal after switching off: {off_history}"
    )


# Tickets all take one route (group wait 30 s): one row proves it, the others stop at firing.
TICKET_ROW = "cache_outage"


def reaches_the_pager(name: str, row: dict[str, Any]) -> bool:
    """Whether this row waits for its alert at the pager: every page, and one ticket."""
    return SEVERITY[row["alert"]] == "page" or name == TICKET_ROW


def check_one_replica(row: dict[str, Any], fault: str, since: float) -> None:
    """A fault on one replica: its signal shows on that replica's series and on no other since
    the fault went on, the lab's average stays under its line, and the fault acts there only
    (fault_active per replica; fault_scope names where, from every process)."""
    time.sleep(max(0.0, since + 4 * STEP - time.time()))  # a few scrapes of the fault at work
    window = f"{max(int(time.time() - since), 1)}s"
    peaks = {
        r["metric"]["instance"]: float(r["value"][1])
        for r in LAB_PROMETHEUS.query(f"max_over_time(({row['expr']})[{window}:1s])")
    }
    assert set(peaks) == set(REPLICAS), peaks
    assert peaks[row["only_on"]] > float(row["above"]), peaks
    others = {i: v for i, v in peaks.items() if i != row["only_on"]}
    assert all(v <= float(row["above"]) for v in others.values()), peaks
    average = query(f"max_over_time(({row['average']})[{window}:1s])")
    assert average is not None and average <= float(row["average_below"]), average
    acting = {
        r["metric"]["instance"]: float(r["value"][1])
        for r in LAB_PROMETHEUS.query(f'fault_active{{job="api", fault="{fault}"}}')
    }
    assert acting == {i: float(i == row["only_on"]) for i in REPLICAS}, acting
    scopes = {
        r["metric"]["replica"] for r in LAB_PROMETHEUS.query(f'fault_scope{{fault="{fault}"}} == 1')
    }
    assert scopes == {row["only_on"]}, scopes
    MEASURED.setdefault(f"{fault}@{row['only_on']}", {}).update(
        {
            "replica_peak": peaks[row["only_on"]],
            "others_peak": max(others.values()),
            "average_peak": average,
        }
    )


@contextlib.contextmanager
def scenario(name: str, *args: str, lab_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """`python -m scripts.scenario run NAME ARGS` against the lab; killed (if still running) and its
    output pipe closed when the block ends, however it ends: a failing test leaves nothing open
    for a later test's garbage collection to warn about."""
    env = {
        **os.environ,
        "FAULTLINE_CONTROL_URL": CONTROL,
        "PROMETHEUS_URL": PROMETHEUS,
        "LOADGEN_URL": f"http://127.0.0.1:{PORTS['loadgen']}",
        "FAULTLINE_ADMIN_TOKEN": TOKEN,
        "FAULTLINE_LAB_DIR": str(lab_dir),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.scenario", "run", name, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def alerts_firing() -> list[str]:
    alerts = httpx.get(f"{PROMETHEUS}/api/v1/alerts").json()["data"]["alerts"]
    return [a["labels"]["alertname"] for a in alerts if a["labels"]["severity"] != "info"]


def all_healed() -> bool:
    return not any(f["active"] for f in httpx.get(f"{CONTROL}/api/faults").json()["faults"])


@pytest.mark.parametrize(
    ("name", "speed", "expected"),
    [
        ("checkout-hangs", "8", ["pool_exhaustion"]),
        ("misleading-pair", "8", ["cache_outage", "lock_contention"]),
    ],
)
def test_scenario_end_to_end_time_compressed(
    lab_dir: Path, name: str, speed: str, expected: list[str]
) -> None:
    wait_for_key_alert_to_resolve(name)
    with scenario(name, "--speed", speed, "--check", lab_dir=lab_dir) as process:
        output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    visible = [
        line.split("signal visible: ")[1].split()[0]
        for line in output.splitlines()
        if "signal visible: " in line
    ]
    assert sorted(visible) == sorted(expected), output
    assert "phase 1/" in output and "healed:" in output
    assert all_healed()
    check_timeline(lab_dir, name, float(speed), output)


def wait_for_key_alert_to_resolve(name: str) -> None:
    """A drill starts with its key's alert not firing (an earlier test's may still be): else the
    alert it should raise would be the earlier one, held back by its route's group interval."""
    alert = yaml.safe_load((ROOT / "scenarios" / f"{name}.yml").read_text())["key"]["alert"]
    waited = wait_for(lambda: alert not in alerts_firing(), 180, step=2)
    assert waited is not None, alerts_firing()


def faultline(*args: str) -> subprocess.CompletedProcess[str]:
    """The `faultline` CLI (make hint, make diagnose, make drills run it) against the lab."""
    return subprocess.run(
        [sys.executable, "-m", "faultline.cli", *args],
        env={**os.environ, "FAULTLINE_CONTROL_URL": CONTROL, "FAULTLINE_ADMIN_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=30,
    )


def current_drill() -> dict[str, Any] | None:
    response = httpx.get(f"{CONTROL}/api/drills/current", timeout=5)
    return response.json() if response.status_code == 200 else None


def test_self_paced_drills_are_scored_and_kept(lab_dir: Path) -> None:
    """MODE=self, time-compressed, with nobody holding the key. The new scenario (one bad replica
    of three) end to end: its signal shows, a hint on request and one by itself, a wrong
    diagnosis scored and the key revealed, a second diagnosis refused. Then a self-paced mystery:
    a scenario not done yet, its name kept secret until a right diagnosis. Both scores kept and
    listed (make drills)."""
    scenarios = {
        path.stem: yaml.safe_load(path.read_text())
        for path in (ROOT / "scenarios").glob("*.yml")
        if path.stem != "signal-contract"
    }
    unknown = subprocess.run(
        [sys.executable, "-m", "scripts.scenario", "run", "no-such-thing", "--mode", "self"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 2 and "unknown scenario 'no-such-thing'" in unknown.stderr
    if current_drill() is None:  # no drill yet: a diagnosis has nothing to score
        refused = faultline("diagnose", "A", "a guess")
        assert refused.returncode == 1 and "No drill is running" in refused.stderr
    wait_for_key_alert_to_resolve("one-bad-replica")
    started = time.time()
    key = scenarios["one-bad-replica"]["key"]
    args = ("--speed", "6", "--check", "--mode", "self")
    with scenario("one-bad-replica", *args, lab_dir=lab_dir) as process:
        assert wait_for(lambda: ((current_drill() or {}).get("started_at") or 0) > started, 30)
        hint = faultline("hint")
        assert (
            hint.returncode == 0 and f"hint 1/{len(key['path'])}: {key['path'][0]}" in hint.stdout
        )
        # The next hint comes by itself (90 s of lab time at 6x: 15 s), while the fault shows.
        assert wait_for(lambda: len(current_drill()["hints"]) == 2, 30) is not None  # type: ignore[index]
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "signal visible: errors_on_one_replica" in line:
                break
        choices = current_drill()["choices"]  # type: ignore[index]
        wrong = next(c["id"] for c in choices if c["label"] != key["cause"])
        listed = faultline("diagnose")
        assert all(c["label"] in listed.stdout for c in choices), listed.stdout
        verdict = faultline("diagnose", wrong, "the", "database", "looked", "slow")
        assert verdict.returncode == 0 and verdict.stdout.startswith("WRONG"), verdict
        assert f"The cause: {key['cause']}" in verdict.stdout
        output = "".join(seen) + process.communicate(timeout=120)[0]
    assert process.returncode == 0, output
    assert "WRONG: you chose" in output and key["root_cause"].split()[0] in output
    assert "hint 2/" in output  # the runner showed the hint that came by itself
    twice = faultline("diagnose", wrong, "again")
    assert twice.returncode == 1 and "This drill is over" in twice.stderr
    check_timeline(lab_dir, "one-bad-replica", 6.0, output)

    with scenario("mystery", "--speed", "6", "--mode", "self", lab_dir=lab_dir) as process:
        assert wait_for(lambda: current_drill()["result"] is None, 30)  # type: ignore[index]
        drill = current_drill()
        assert drill is not None and drill["scenario"] is None
        assert drill["title"] == "A mystery incident"
        name = (lab_dir / "mystery-scenario").read_text().strip()
        assert name != "one-bad-replica"  # a scenario not done yet
        cause = scenarios[name]["key"]["cause"]
        right = next(c["id"] for c in drill["choices"] if c["label"] == cause)
        verdict = faultline("diagnose", right, "what", "I", "saw")
        assert verdict.returncode == 0 and verdict.stdout.startswith("RIGHT"), verdict
        output = process.communicate(timeout=120)[0]
    assert process.returncode == 0 and "RIGHT: you chose" in output, output
    results = httpx.get(f"{CONTROL}/api/drills/results").json()
    latest, before = results["results"][:2]
    assert (latest["scenario"], latest["correct"], latest["hints_used"]) == (name, True, 0)
    assert (before["scenario"], before["correct"]) == ("one-bad-replica", False)
    assert before["hints_used"] >= 2 and before["time_to_diagnosis_s"] > 0
    assert {name, "one-bad-replica"} <= set(results["scenarios_done"])
    listing = faultline("drills")
    assert listing.returncode == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines()]
    assert rows[0][:2] == [name, "right"] and rows[1][:2] == ["one-bad-replica", "wrong"]
    assert f"{results['correct']} of {len(results['results'])} diagnosed right" in listing.stdout


def check_timeline(lab_dir: Path, name: str, speed: float, output: str) -> None:
    """The timeline the run wrote, against what the scenario did: each fault switched on when its
    step came (lab time / speed), each expected signal crossing after its fault, the key's alert
    paged after the fault when it pages, the drill's end, and the postmortem's sections (a copy
    in test-output/timelines/)."""
    assert "incident timeline and postmortem skeleton:" in output, output
    text = (lab_dir / "timeline.md").read_text()
    (OUTPUT / "timelines").mkdir(parents=True, exist_ok=True)
    (OUTPUT / "timelines" / f"{name}.md").write_text(text)  # to read after the run
    # The console shows the same timeline.
    assert httpx.get(f"{CONTROL}/api/drills/last/timeline").json()["markdown"] == text
    rows = [
        line.split(" | ") for line in text.splitlines() if re.match(r"\| \d\d:\d\d:\d\d \|", line)
    ]
    happened = [(seconds(since), what.rstrip(" |")) for _, since, what in rows]
    assert [at for at, _ in happened] == sorted(at for at, _ in happened), text
    definition = yaml.safe_load((ROOT / "scenarios" / f"{name}.yml").read_text())
    for step in definition["timeline"]:
        for fault in step.get("faults") or {}:
            (at,) = [at for at, what in happened if what.startswith(f"fault {fault} switched on")]
            assert abs(at - step["at_s"] / speed) <= 3, (fault, at, text)
            for row in step.get("expect") or []:
                crossed = [t for t, what in happened if what.startswith(f"signal {row} crossed")]
                assert crossed and crossed[0] >= at - STEP, (row, text)
    alert = definition["key"]["alert"]
    if SEVERITY[alert] == "page":
        first_fault = min(at for at, what in happened if "switched on (" in what)
        paged = [at for at, what in happened if what.startswith(f"paged: {alert}")]
        assert paged and paged[0] >= first_fault, text
        assert f"- First page: {alert} (page)" in text
    # The drill's end is there; what follows it (alerts resolving, a signal crossing a moment
    # after a drill that was diagnosed at once) belongs to it too.
    assert any(what.startswith("drill ended") for _, what in happened), text
    for section in ("## Impact", "## Detection", "## Response", "## Root cause", "## Action items"):
        assert section in text
    assert "Requests failed (5xx):" in text and "Error budget burned:" in text


def seconds(clock: str) -> float:
    minutes, rest = clock.strip().split(":")
    return int(minutes) * 60 + int(rest)


def test_an_interrupted_scenario_heals_everything(lab_dir: Path) -> None:
    with scenario("cache-went-away", "--speed", "12", lab_dir=lab_dir) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if "phase 2/" in line:  # the fault is on now
                break
        time.sleep(2)
        assert not all_healed()
        process.send_signal(2)  # Ctrl-C
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "interrupted: every fault is off" in output
    assert all_healed()


def test_a_mystery_scenario_is_revealed_afterwards(lab_dir: Path) -> None:
    with scenario("mystery", "--speed", "60", lab_dir=lab_dir) as process:
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "a mystery incident" in output and "look at" not in output
    revealed = subprocess.run(
        [sys.executable, "-m", "scripts.scenario", "reveal"],
        cwd=ROOT,
        env={**os.environ, "FAULTLINE_LAB_DIR": str(lab_dir)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    name = (lab_dir / "mystery-scenario").read_text().strip()
    assert f"The mystery was: {name}" in revealed and "root_cause" in revealed
    assert all_healed()


def test_make_down_leaves_no_process_behind(lab_dir: Path) -> None:
    pidfiles = sorted((lab_dir / "pids").glob("*.pid"))
    expected = [
        c.name for c in native_lab.components() if not c.name.startswith(("api-", "loadgen-"))
    ]
    assert sorted(p.stem for p in pidfiles) == sorted([*expected, *REPLICAS, *WORKERS])
    pids = [int(p.read_text().split()[0]) for p in pidfiles]
    result = make("down", lab_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        # Gone, or a zombie waiting for init to reap it (no longer running either way).
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", (
            f"pid {pid} runs"
        )
    for port in PORTS.values():
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
