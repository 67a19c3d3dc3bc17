"""Scenario keys and timelines agree with the dashboards and the logs: every place a key or a
step's `look_at` sends a facilitator exists. A line starts with where to look: a board (by its
title, "Lab overview", "Database & pool", ...), "Logs" or "Traces". On a board, every 'quoted'
name is a panel of that board; in Logs, every `|= "event"` is an event the API really logs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.dashboards import every_panel
from tests.support.api_names import logged_events

ROOT = Path(__file__).resolve().parents[2]
BOARDS = {
    json.loads(p.read_text())["title"].removeprefix("Faultline: ").lower(): json.loads(
        p.read_text()
    )
    for p in (ROOT / "grafana" / "dashboards").glob("*.json")
}
BOARDS["lab overview"] = BOARDS.pop("lab overview")  # the home board's title, as keys say it
ELSEWHERE = {"logs", "traces"}
EVENTS = set(logged_events())


def lines_of(scenario: dict[str, Any]) -> list[str]:
    lines = list(scenario["key"]["path"])
    lines += [step["look_at"] for step in scenario["timeline"] if step.get("look_at")]
    return lines


SCENARIOS = {
    path.stem: yaml.safe_load(path.read_text())
    for path in sorted((ROOT / "scenarios").glob("*.yml"))
    if path.stem != "signal-contract"
}
LINES = [(name, line) for name, scenario in SCENARIOS.items() for line in lines_of(scenario)]


def problems(line: str) -> list[str]:
    where, sep, rest = line.partition(":")
    place = where.strip().lower()
    if not sep or (place not in BOARDS and place not in ELSEWHERE):
        return [f"starts with {where!r}, not a board ({sorted(BOARDS)}), Logs or Traces"]
    found = []
    if place in BOARDS:
        titles = {panel["title"].lower() for panel in every_panel(BOARDS[place])}
        found += [
            f"no panel {name!r} on {where}"
            for name in re.findall(r"'([^']+)'", rest)
            if name.lower() not in titles
        ]
    for event in re.findall(r'\|=\s*"([^"]+)"', rest):
        if event not in EVENTS:
            found.append(f"the API never logs {event!r}")
    return found


@pytest.mark.parametrize(
    ("scenario", "line"), LINES, ids=[f"{name}: {text[:40]}" for name, text in LINES]
)
def test_every_place_a_key_names_exists(scenario: str, line: str) -> None:
    assert not problems(line), problems(line)


def test_the_check_catches_what_it_should() -> None:
    assert problems("API: 'Latency heatmap' shows a second band") == []
    assert problems("API: 'p99 of POST /orders' at 2 s")  # no such panel
    assert problems("Grafana: somewhere")  # no such place
    assert problems('Logs: {service_name="faultline-api"} |= "db_pool_exhausted"')  # never logged
    assert problems('Logs: {service_name="faultline-api"} |= "cache.error"') == []
