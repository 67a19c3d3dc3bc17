"""alertmanager/alertmanager.yml, checked by Debian's amtool (config syntax, and where each of the
project's alerts is routed), and the alert rules read against it: every alert routes by its
severity, says what is wrong and where to look. tests/integration/test_pager.py runs the same
file on a real Alertmanager."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from faultline.control.app import create_control_app
from faultline.promql import CHARTS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "alertmanager" / "alertmanager.yml"
RULES = ROOT / "prometheus" / "rules" / "faultline.rules.yml"
BOARDS = {
    json.loads(p.read_text())["uid"] for p in (ROOT / "grafana" / "dashboards").glob("*.json")
}
RECEIVER_FOR = {"page": "pager", "ticket": "tickets", "info": "nobody"}


def alerts() -> list[dict[str, Any]]:
    return [
        rule
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    assert binary, "amtool not found (apt-get install prometheus-alertmanager)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)


def test_the_config_is_valid() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_every_alert_routes_by_its_severity(rule: dict[str, Any]) -> None:
    labels = [f"alertname={rule['alert']}", *(f"{k}={v}" for k, v in rule["labels"].items())]
    result = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == RECEIVER_FOR[rule["labels"]["severity"]]


def test_fault_active_never_pages_and_user_facing_alerts_do() -> None:
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in alerts()}
    assert severity["FaultActive"] == "info"
    paging = {name for name, level in severity.items() if level == "page"}
    assert paging == {
        "AvailabilityBudgetFastBurn",
        "LatencyBudgetFastBurn",
        "DatabasePoolAcquireTimeouts",
    }


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_every_alert_says_what_is_wrong_and_where_to_look(rule: dict[str, Any]) -> None:
    annotations = rule["annotations"]
    assert annotations["summary"] and len(annotations["description"]) > 40
    assert annotations["dashboard"].removeprefix("/d/") in BOARDS
    if "console_chart" in annotations:
        assert annotations["console_chart"] in {chart.key for chart in CHARTS}
    assert rule["labels"]["service"]


def test_inhibitions_name_labels_the_alerts_carry() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    names = {rule["alert"] for rule in alerts()}
    label_names = {name for rule in alerts() for name in rule["labels"]} | {"alertname", "instance"}
    for inhibit in config["inhibit_rules"]:
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            label, value = matcher.split("=", 1)
            label = label.rstrip("=~!")
            assert label in label_names, matcher
            if label == "alertname":
                assert value.strip('"') in names, matcher
        assert set(inhibit["equal"]) <= label_names


def test_the_webhook_reaches_the_pager_with_the_secret_compose_mounts() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    paths = set(create_control_app().openapi()["paths"])
    webhooks = [w for r in config["receivers"] for w in r.get("webhook_configs", [])]
    assert {r["name"] for r in config["receivers"] if r.get("webhook_configs")} == {
        "pager",
        "tickets",
    }
    for webhook in webhooks:
        host, _, path = webhook["url"].removeprefix("http://").partition("/")
        assert host == "control:8080" and f"/{path}" in paths
        secret = webhook["http_config"]["authorization"]["credentials_file"]
        assert secret == "/run/secrets/alert_webhook_token"
    assert compose["services"]["alertmanager"]["secrets"] == ["alert_webhook_token"]
    assert compose["secrets"]["alert_webhook_token"] == {"environment": "ALERT_WEBHOOK_TOKEN"}
    assert compose["services"]["control"]["environment"]["ALERT_WEBHOOK_TOKEN"]
