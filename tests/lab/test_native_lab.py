"""The native lab, for real: `make up` with no Docker engine starts it (once), the console shows
live charts with data in headless Chromium, every row of the signal contract holds against its
Prometheus under Locust load, and `make down` leaves no process behind.

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
from tests.support.browser import headless_chromium
from tests.support.native_lab import TEST_PORT_OFFSET

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
OFFSET = TEST_PORT_OFFSET
PORTS = native_lab.ports(OFFSET)
CONTROL = f"http://127.0.0.1:{PORTS['control']}"
PROMETHEUS = f"http://127.0.0.1:{PORTS['prometheus']}"
API = f"http://127.0.0.1:{PORTS['api']}"
TOKEN = "lab-test-token"
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
    result = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=5).json()[
        "data"
    ]["result"]
    values = [float(r["value"][1]) for r in result]
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
    assert "started: postgres, redis, api, control" in first.stdout
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
    # The API replica is named as compose names its own (api-1), not by its address.
    assert [t["labels"]["instance"] for t in targets if t["labels"]["job"] == "api"] == ["api-1"]
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
    """`make up`'s readiness wait (POSIX sh, curl, grep) against the lab's real API and Prometheus:
    ready with one replica scraped; a clear failure, not a hang, when two are asked for."""
    wait = [str(ROOT / "scripts" / "wait-ready.sh"), API, PROMETHEUS]
    env = {"PATH": "/usr/bin:/bin", "WAIT_SECONDS": "3"}
    ready = subprocess.run(["sh", *wait, "1"], env=env, capture_output=True, text=True, timeout=30)
    assert ready.returncode == 0, ready.stderr
    missing = subprocess.run(
        ["sh", *wait, "2"], env=env, capture_output=True, text=True, timeout=30
    )
    assert missing.returncode == 1
    assert "has not scraped 2 API replica(s)" in missing.stderr


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


@pytest.mark.parametrize("name", list(CONTRACT["faults"]))
def test_signal_contract(lab_dir: Path, name: str) -> None:
    row = CONTRACT["faults"][name]
    expr, above = row["expr"], float(row["above"])

    def shows() -> bool:
        return over(query(expr), above)

    def quiet() -> bool:
        """Below the threshold for the last 20 s (more than a rate window), so what follows is
        the fault's doing and not the tail of a start-up transient or of the previous row."""
        return not over(query(f"max_over_time(({expr})[20s:1s])"), above)

    assert wait_for(quiet, 120) is not None, f"{name}: signal high before the fault"
    response = httpx.put(
        f"{CONTROL}/api/faults/{name}",
        json={"params": row["params"], "ttl_seconds": 600},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    switched_on = time.time()
    try:
        wait_for(shows, row["visible_within_s"] + 5)
        on_history = signal_history(expr, switched_on)
        visible = first_time(on_history, True, above)
        alert_after = None
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
    finally:
        assert httpx.delete(f"{CONTROL}/api/faults/{name}", headers=AUTH).status_code == 200
    switched_off = time.time()
    wait_for(lambda: not shows(), row["clear_within_s"] + 5)
    off_history = signal_history(expr, switched_off)
    cleared = first_time(off_history, False, above)
    MEASURED[name] = {"visible_s": visible, "cleared_s": cleared, "alert_firing_s": alert_after}
    assert visible is not None and visible <= row["visible_within_s"], (
        f"{name}: not visible in time ({visible}); signal after switching on: {on_history}"
    )
    if row.get("alert"):
        MEASURED[name]["paged_s"] = paged_after
        assert alert_after is not None, (
            f"{name}: {row['alert']} never fired within {row['alert_within_s']}s"
        )
        assert page is not None and paged_after is not None and paged_after <= allowed, (
            f"{name}: {row['alert']} did not reach the pager within {allowed}s: {page}"
        )
        assert page["receiver"] == receiver and name in page["faults"], page
    # A fault on is a marker, never a page.
    assert not any(i["alertname"] == "FaultActive" for i in pages_since(0))
    assert cleared is not None and cleared <= row["clear_within_s"], (
        f"{name}: did not clear in time ({cleared}); signal after switching off: {off_history}"
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
        ("checkout-hangs", "6", ["pool_exhaustion"]),
        ("misleading-pair", "6", ["cache_outage", "lock_contention"]),
    ],
)
def test_scenario_end_to_end_time_compressed(
    lab_dir: Path, name: str, speed: str, expected: list[str]
) -> None:
    # A drill starts from a quiet lab: no page or ticket alert left firing by an earlier test.
    assert wait_for(lambda: not alerts_firing(), 180, step=2) is not None, alerts_firing()
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
        paged = [at for at, what in happened if what == f"paged: {alert}"]
        assert paged and paged[0] >= first_fault, text
        assert f"- First page: {alert} (page)" in text
    assert happened[-1][1].startswith("drill ended") or "resolved" in happened[-1][1], text
    for section in ("## Impact", "## Detection", "## Response", "## Root cause", "## Action items"):
        assert section in text
    assert "Requests failed (5xx):" in text and "Error budget burned:" in text


def seconds(clock: str) -> float:
    minutes, rest = clock.strip().split(":")
    return int(minutes) * 60 + int(rest)


def test_an_interrupted_scenario_heals_everything(lab_dir: Path) -> None:
    with scenario("cache-went-away", "--speed", "4", lab_dir=lab_dir) as process:
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
    pids = [int(p.read_text().split()[0]) for p in (lab_dir / "pids").glob("*.pid")]
    assert len(pids) == len(native_lab.components())
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
