"""The Prometheus configuration and rules, checked by Debian's promtool: config syntax, rule
syntax, and a unit test for every alert (prometheus/tests/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not found (apt-get install prometheus; scripts/ensure-tools.sh does)"
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=PROMETHEUS)


def test_config_is_valid_with_its_rules(tmp_path: Path) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    # In the container the rules are mounted at /etc/prometheus/rules; here they are in the repo.
    assert config["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]
    config["rule_files"] = [str(PROMETHEUS / "rules" / "*.rules.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", *map(str, (PROMETHEUS / "rules").glob("*.rules.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_passing_unit_test() -> None:
    tests = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
    result = promtool("test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {
        rule["alert"]
        for path in (PROMETHEUS / "rules").glob("*.rules.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tested = {
        case["alertname"]
        for path in tests
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == tested, f"alerts with no firing test: {sorted(alerts - tested)}"


@pytest.mark.parametrize(
    "job", ["api", "control", "loadgen", "postgres", "redis", "otel-collector", "tempo", "loki"]
)
def test_every_component_is_scraped_every_5s(job: str) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "5s"
    assert job in {scrape["job_name"] for scrape in config["scrape_configs"]}
