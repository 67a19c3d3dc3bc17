"""The pager, for real: Debian's Alertmanager on the project's own alertmanager.yml, notifying a
real control service process, which keeps incidents in its log file. Routing (what pages, what
waits for a ticket, what never notifies), inhibition, bad webhook input, acknowledgement, a
restart of the control service, and the console's pager in headless Chromium (screenshots under
test-output/pager/)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from labkit.alertmanager import post_alerts, project_config, running_alertmanager
from labkit.api import faultline_command, running_api
from labkit.servers import Redis
from tests.support.browser import headless_chromium

pytestmark = pytest.mark.slow
ADMIN = "pager-admin-token"
WEBHOOK = "pager-webhook-token"
TEN = "2026-12-05T10:00:00Z"
RULES = Path(__file__).resolve().parents[2] / "prometheus" / "rules" / "faultline.rules.yml"


def rule(name: str) -> dict[str, Any]:
    """An alert as Prometheus would send it: the rule's own labels and annotations, rendered for
    replica api-1."""
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for found in group["rules"]:
            if found.get("alert") == name:
                labels = {"alertname": name, "instance": "api-1", **found["labels"]}
                annotations = {
                    key: value.replace("{{ $labels.instance }}", "api-1")
                    for key, value in found["annotations"].items()
                }
                return {"labels": labels, "annotations": annotations}
    raise KeyError(name)


def message(alerts: list[dict[str, Any]], receiver: str = "pager", **extra: Any) -> dict[str, Any]:
    """A webhook message as Alertmanager 0.25 sends it."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="X"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": receiver,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
        **extra,
    }


def alert(
    name: str, fingerprint: str, status: str = "firing", starts: str | None = None
) -> dict[str, Any]:
    """One alert of a webhook message; it started firing 90 s ago unless `starts` says when."""
    started = starts or datetime.fromtimestamp(time.time() - 90, UTC).isoformat()
    return {
        "status": status,
        **rule(name),
        "startsAt": started,
        "endsAt": "2026-12-05T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


class Pager:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs

    def incidents(self, url: str) -> dict[str, Any]:
        response = httpx.get(f"{url}/api/incidents", timeout=5)
        response.raise_for_status()
        return dict(response.json())


@pytest.fixture()
def pager(redis_server: Redis, tmp_path: Path) -> Pager:
    env = {
        "REDIS_URL": redis_server.url,
        "FAULTLINE_ADMIN_TOKEN": ADMIN,
        "ALERT_WEBHOOK_TOKEN": WEBHOOK,
        "INCIDENTS_PATH": str(tmp_path / "incidents.jsonl"),
        "LOG_JSON": "true",
    }
    return Pager(env, tmp_path)


def post_webhook(url: str, body: Any, token: str | None = WEBHOOK, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, (dict, list)):
        return httpx.post(
            f"{url}/api/incidents/alertmanager", json=body, headers=headers, timeout=5
        )
    return httpx.post(
        f"{url}/api/incidents/alertmanager",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        timeout=5,
        **kwargs,
    )


def test_bad_webhook_input_is_a_4xx_and_stores_nothing(pager: Pager) -> None:
    good = message([alert("CacheErrors", "aa01")])
    cases = {
        "no token": (post_webhook, (good,), {"token": None}, 401),
        "wrong token": (post_webhook, (good,), {"token": "guess"}, 401),
        "not JSON": (post_webhook, (b"{not json",), {}, 400),
        "unknown field": (
            post_webhook,
            (message([alert("CacheErrors", "aa02")], extra=1),),
            {},
            422,
        ),
        "unknown version": (post_webhook, ({**good, "version": "5"},), {}, 422),
        "no alerts": (post_webhook, (message([]),), {}, 422),
        "bad fingerprint": (post_webhook, (message([alert("CacheErrors", "ZZ")]),), {}, 422),
        "oversized": (post_webhook, (b"[" + b"1," * 20_000 + b"1]",), {}, 413),
    }
    with running_api(pager.env, pager.logs / "control.log", command="control") as url:
        for name, (send, args, kwargs, status) in cases.items():
            response = send(url, *args, **kwargs)
            assert response.status_code == status, (name, response.text)
            assert "Traceback" not in response.text
        assert pager.incidents(url)["incidents"] == []


def test_incidents_are_acknowledged_with_the_admin_token_and_survive_a_restart(
    pager: Pager,
) -> None:
    with running_api(pager.env, pager.logs / "control.log", command="control") as url:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        fault = httpx.put(f"{url}/api/faults/errors", json={}, headers=admin, timeout=5).json()
        time.sleep(1)
        assert (
            post_webhook(
                url, message([alert("AvailabilityBudgetFastBurn", "ab01", starts=TEN)])
            ).status_code
            == 200
        )
        assert (
            post_webhook(
                url, message([alert("AvailabilityBudgetFastBurn", "ab01", starts=TEN)])
            ).json()
            == []
        )
        (incident,) = pager.incidents(url)["incidents"]
        assert (incident["alertname"], incident["severity"], incident["status"]) == (
            "AvailabilityBudgetFastBurn",
            "page",
            "firing",
        )
        assert incident["description"] and incident["annotations"]["dashboard"]
        # The fault that was on, and how long the page took from it; no Grafana: the console.
        assert incident["faults"] == ["errors"]
        assert incident["fault_started_at"] == fault["enabled_at"]
        assert 1 <= incident["time_to_detect"] < 10
        assert incident["runbook_url"] == "/#chart-errors"
        ack = f"{url}/api/incidents/{incident['id']}/acknowledge"
        assert httpx.post(ack, timeout=5).status_code == 401
        assert (
            httpx.post(ack, headers={"Authorization": "Bearer guess"}, timeout=5).status_code == 401
        )
        unknown = f"{url}/api/incidents/{'0' * 16}/acknowledge"
        assert httpx.post(unknown, headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 404
        # `make pages` from a shell: the incident, then acknowledged from there.
        shell = {"FAULTLINE_CONTROL_URL": url, "FAULTLINE_ADMIN_TOKEN": ADMIN}
        listed = pages_cli(shell)
        assert f"{incident['id']}  FIRING   page   AvailabilityBudgetFastBurn" in listed
        assert "NOT ACKNOWLEDGED" in listed and "faults on: errors" in listed
        assert "where to look: /#chart-errors" in listed
        assert "(acknowledged)" in pages_cli(shell, "--ack", incident["id"])
        (acked,) = pager.incidents(url)["incidents"]
        assert acked["acknowledged_at"] >= incident["paged_at"]
        resolved = message([alert("AvailabilityBudgetFastBurn", "ab01", "resolved", starts=TEN)])
        assert post_webhook(url, {**resolved, "status": "resolved"}).status_code == 200
        assert httpx.delete(f"{url}/api/faults", headers=admin, timeout=5).status_code == 200
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        for measure in ("detect", "acknowledge", "resolve"):
            assert f'incident_time_to_{measure}_seconds_count{{severity="page"}} 1.0' in metrics
            assert f'incident_time_to_{measure}_seconds_count{{severity="ticket"}} 0.0' in metrics
    grafana = {**pager.env, "GRAFANA_URL": "http://127.0.0.1:3000"}
    with running_api(grafana, pager.logs / "control-2.log", command="control") as url:
        (kept,) = pager.incidents(url)["incidents"]
        assert kept["runbook_url"].startswith("http://127.0.0.1:3000/d/faultline-overview?from=")
        assert kept["acknowledged_at"] == acked["acknowledged_at"]
        assert kept["status"] == "resolved"
        assert kept["resolved_at"] == datetime(2026, 12, 5, 10, 5, tzinfo=UTC).timestamp()


def test_a_corrupt_line_in_the_incident_log_is_reported_and_skipped(pager: Pager) -> None:
    with running_api(pager.env, pager.logs / "control.log", command="control") as url:
        assert post_webhook(url, message([alert("CacheErrors", "cc01")])).status_code == 200
    with Path(pager.env["INCIDENTS_PATH"]).open("a") as log:
        log.write('{"kind": "incident", "incident": {"id": 3}}\n{truncated\n')
    with running_api(pager.env, pager.logs / "control-2.log", command="control") as url:
        listing = pager.incidents(url)
        assert [i["alertname"] for i in listing["incidents"]] == ["CacheErrors"]
        assert listing["problems"] == ["line 2: ValidationError", "line 3: JSONDecodeError"]
        assert post_webhook(url, message([alert("CacheErrors", "cc02")])).status_code == 200
        assert len(pager.incidents(url)["incidents"]) == 2


def pages_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        faultline_command("pages", *args),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_for(check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.5)


def test_alertmanager_pages_tickets_inhibits_and_never_pages_a_fault(pager: Pager) -> None:
    """The project's routing tree, on Alertmanager itself: a fast burn pages within its group
    wait; the slow burn of the same SLO is inhibited; a cause-level alert arrives as a ticket
    after the ticket route's longer wait; FaultActive notifies nobody."""
    token_file = pager.logs / "webhook-token"
    token_file.write_text(WEBHOOK)
    with running_api(pager.env, pager.logs / "control.log", command="control") as url:
        config = project_config(url, token_file)
        with running_alertmanager(config) as alertmanager:
            now = datetime.now(UTC).isoformat()
            sent = time.time()
            post_alerts(
                alertmanager,
                [
                    {**rule(name), "startsAt": now}
                    for name in (
                        "AvailabilityBudgetFastBurn",
                        "AvailabilityBudgetSlowBurn",
                        "CacheErrors",
                        "FaultActive",
                    )
                ],
            )

            def names() -> dict[str, str]:
                return {i["alertname"]: i["receiver"] for i in pager.incidents(url)["incidents"]}

            wait_for(lambda: "AvailabilityBudgetFastBurn" in names(), 20)
            paged = {i["alertname"]: i["paged_at"] for i in pager.incidents(url)["incidents"]}
            assert names() == {"AvailabilityBudgetFastBurn": "pager"}
            assert paged["AvailabilityBudgetFastBurn"] - sent < 15  # group_wait 5 s
            wait_for(lambda: "CacheErrors" in names(), 60)
            time.sleep(5)  # anything else would have come with it
            assert names() == {"AvailabilityBudgetFastBurn": "pager", "CacheErrors": "tickets"}
            silenced = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
            inhibited = {a["labels"]["alertname"] for a in silenced if a["status"]["inhibitedBy"]}
            assert inhibited == {"AvailabilityBudgetSlowBurn"}
    log_lines = [json.loads(line) for line in (pager.logs / "control.log").read_text().splitlines()]
    assert {line["event"] for line in log_lines} >= {"incident.paged"}


def test_the_console_shows_a_new_page_until_it_is_acknowledged(pager: Pager) -> None:
    output = Path(__file__).resolve().parents[2] / "test-output" / "pager"
    output.mkdir(parents=True, exist_ok=True)
    with (
        running_api(pager.env, pager.logs / "control.log", command="control") as url,
        headless_chromium() as browser,
    ):
        wait = WebDriverWait(browser, 10)
        browser.get(url)
        wait.until(lambda d: "No pages yet" in d.find_element(By.ID, "pager-note").text)
        post_webhook(url, message([alert("DatabasePoolAcquireTimeouts", "dd01")]))
        page = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".page.firing.sev-page.new"))[
            0
        ]
        assert "DatabasePoolAcquireTimeouts" in page.text and "firing for" in page.text
        assert "requests gave up waiting" in page.text  # the rule's summary
        link = page.find_element(By.LINK_TEXT, "Where to look")
        assert link.get_attribute("href").endswith("/#chart-pool")
        assert browser.title.startswith("(1) ")
        browser.save_screenshot(str(output / "new-page.png"))
        browser.find_element(By.ID, "token").send_keys(ADMIN)
        page.find_element(By.CSS_SELECTOR, "[data-action=acknowledge]").click()
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".page.new"))
        acked = browser.find_element(By.CSS_SELECTOR, ".page").text
        assert "acknowledged after" in acked
        assert browser.title == "Faultline control"
        browser.save_screenshot(str(output / "acknowledged.png"))
        (incident,) = pager.incidents(url)["incidents"]
        assert incident["acknowledged_by"].startswith("token@")


def test_the_last_drills_timeline_is_kept_for_the_console(pager: Pager) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    markdown = "# Incident timeline: a test\n\n| 10:00:00 | 0:00 | fault latency switched on |\n"
    with (
        running_api(pager.env, pager.logs / "control.log", command="control") as url,
        headless_chromium() as browser,
    ):
        timeline = f"{url}/api/drills/last/timeline"
        assert httpx.get(timeline, timeout=5).json()["error"]["code"] == "no_timeline"
        assert httpx.put(timeline, json={"markdown": markdown}, timeout=5).status_code == 401
        too_long = {"markdown": "x" * 12_001}
        assert httpx.put(timeline, json=too_long, headers=admin, timeout=5).status_code == 422
        assert (
            httpx.put(timeline, json={"markdown": 3}, headers=admin, timeout=5).status_code == 422
        )
        kept = httpx.put(timeline, json={"markdown": markdown}, headers=admin, timeout=5)
        assert kept.status_code == 200 and httpx.get(timeline).json()["markdown"] == markdown
        browser.get(url)
        browser.find_element(By.CSS_SELECTOR, "#timeline summary").click()
        WebDriverWait(browser, 10).until(
            lambda d: "fault latency switched on" in d.find_element(By.ID, "timeline-text").text
        )
        # A damaged file is reported, not a 500.
        (Path(pager.env["INCIDENTS_PATH"]).parent / "last-timeline.json").write_text("{broken")
        damaged = httpx.get(timeline, timeout=5)
        assert damaged.status_code == 404 and "could not be read" in damaged.text
