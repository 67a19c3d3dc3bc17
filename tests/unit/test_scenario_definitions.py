"""Every scenario definition parses, names only existing faults, profiles, contract rows and
alerts, and its parameters are within the catalogue's bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

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


def test_the_contract_covers_every_fault_exactly() -> None:
    assert set(CONTRACT) == set(CATALOGUE)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_definition(name: str) -> None:
    scenario = SCENARIOS[name]
    for field in ("title", "teaser", "brief", "key", "load", "duration_s", "timeline"):
        assert scenario.get(field), f"{name}: {field} missing"
    key = scenario["key"]
    for field in ("root_cause", "path", "alert", "fix", "questions"):
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
            assert row in active, f"{name}: expects {row} while that fault is off"
    assert steps[-1].get("heal"), f"{name}: should end healed"
