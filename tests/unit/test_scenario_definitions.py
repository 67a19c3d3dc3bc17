"""Every scenario definition parses, names only existing faults, profiles, contract rows and
alerts, and its parameters are within the catalogue's bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from faultline.control.drills import DrillStart
from faultline.faults.catalogue import CATALOGUE
from loadtest.shapes import PROFILES
from scripts import scenario as scenario_cli

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS: dict[str, dict[str, Any]] = scenario_cli.load_scenarios()
CONTRACT: dict[str, Any] = scenario_cli.contract()
ALERTS = {
    rule["alert"]
    for group in yaml.safe_load((ROOT / "prometheus/rules/faultline.rules.yml").read_text())[
        "groups"
    ]
    for rule in group["rules"]
    if "alert" in rule
}


def test_there_are_enough_scenarios_and_one_misleads_with_two_faults() -> None:
    assert len(SCENARIOS) >= 6
    assert any(
        len(step.get("faults") or {}) >= 2 for s in SCENARIOS.values() for step in s["timeline"]
    )


def test_each_cause_is_a_distinct_line() -> None:
    """A self-paced drill offers every scenario's cause: each one line, none the same."""
    causes = [s["key"]["cause"] for s in SCENARIOS.values()]
    assert len(set(causes)) == len(causes)
    assert all(0 < len(cause) <= 120 and "\n" not in cause for cause in causes)


def test_the_contract_covers_every_fault_and_its_rows_are_valid() -> None:
    """A row per fault, named after it; more rows of a fault name it (`fault:`)."""
    assert set(CATALOGUE) <= set(CONTRACT)
    for name, row in CONTRACT.items():
        fault = row.get("fault", name)
        assert fault in CATALOGUE, f"{name}: no fault {fault}"
        assert (fault == name) == ("fault" not in row), f"{name}: name the fault only when needed"
        CATALOGUE[fault].params.model_validate(row["params"])
        if "only_on" in row:
            assert row["params"].get("replica") == row["only_on"], name
            assert "by (instance)" in row["expr"] and row["average_below"] > 0, name


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_definition(name: str) -> None:
    scenario = SCENARIOS[name]
    for field in ("title", "teaser", "brief", "key", "load", "duration_s", "timeline"):
        assert scenario.get(field), f"{name}: {field} missing"
    key = scenario["key"]
    for field in ("cause", "root_cause", "path", "alert", "fix", "questions"):
        assert key.get(field), f"{name}: key.{field} missing"
    assert key["alert"] in ALERTS, f"{name}: unknown alert {key['alert']}"
    assert scenario["load"]["profile"] in PROFILES
    steps = scenario["timeline"]
    assert [s["at_s"] for s in steps] == sorted(s["at_s"] for s in steps)
    assert all(0 <= s["at_s"] < scenario["duration_s"] for s in steps)
    active: set[str] = set()
    for step in steps:
        if step.get("heal"):
            active = set()
        for fault, params in (step.get("faults") or {}).items():
            assert fault in CATALOGUE, f"{name}: unknown fault {fault}"
            CATALOGUE[fault].params.model_validate(params or {})  # within bounds
            active.add(fault)
        for row in step.get("expect") or []:
            assert row in CONTRACT, f"{name}: {row} is not a row of the signal contract"
            fault = CONTRACT[row].get("fault", row)
            assert fault in active, f"{name}: expects {row} while {fault} is off"
    assert scenario.get("replicas", 1) in range(1, 6), f"{name}: replicas 1 to 5"
    assert steps[-1].get("heal"), f"{name}: should end healed"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_makes_a_self_paced_drill_the_control_service_takes(name: str) -> None:
    """What the runner hands over (MODE=self) is what the control service accepts: the right
    cause first, every other scenario's as the wrong ones, the key's path as the hints."""
    body = scenario_cli.drill_start(name, SCENARIOS, speed=6.0, hidden=True)
    drill = DrillStart.model_validate_json(json.dumps(body))
    assert drill.causes[0] == SCENARIOS[name]["key"]["cause"]
    assert sorted(drill.causes) == sorted(s["key"]["cause"] for s in SCENARIOS.values())
    assert drill.hints == SCENARIOS[name]["key"]["path"]
    assert drill.hint_after_s == scenario_cli.HINT_AFTER_S / 6.0
