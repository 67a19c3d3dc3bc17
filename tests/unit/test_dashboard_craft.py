"""The dashboards' craft rules, checked on the generated JSON so they cannot drift: a stat panel
is a verdict (thresholds that turn it red), every panel has a unit, a heatmap is a heatmap (per-
bucket counts, no calculation, exemplars on), range queries follow Grafana's $__rate_interval,
every series has a legend that names it, ratios are bounded, and links keep the time range and
variables. The dashboard-query test runs every expression against a real Prometheus."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from grafana.dashboards import every_panel

BOARDS = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"


def boards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(BOARDS.glob("*.json"))]


def panels() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{b['uid']} / {p['title']}", p) for b in boards() for p in every_panel(b)]


PANELS = panels()
OUTER_AGGREGATION = re.compile(r"(sum|max|min|avg|count)\s*\(")
IDS = [where for where, _ in PANELS]


def test_there_are_six_boards_with_both_variables() -> None:
    found = boards()
    assert len(found) == 6
    for board in found:
        names = {v["name"]: v for v in board["templating"]["list"]}
        assert set(names) == {"instance", "route"}, board["uid"]
        # "All" matches one replica or many: a regex, not an empty string.
        assert all(v["includeAll"] and v["allValue"] == ".+" for v in names.values())


@pytest.mark.parametrize(("where", "panel"), PANELS, ids=IDS)
def test_every_panel_follows_the_craft_rules(where: str, panel: dict[str, Any]) -> None:
    kind = panel["type"]
    if kind == "logs":
        return
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults.get("unit"), f"{where}: no unit"
    if kind == "stat":
        steps = defaults.get("thresholds", {}).get("steps", [])
        colours = {step["color"] for step in steps}
        assert "red" in colours, f"{where}: a verdict must be able to turn red"
        assert defaults["color"]["mode"] == "thresholds"
    if defaults["unit"] == "percentunit" and kind == "timeseries":
        assert (defaults.get("min"), defaults.get("max")) == (0, 1), f"{where}: unbounded ratio"
    for target in panel["targets"]:
        expr, legend = target["expr"], target.get("legendFormat", "")
        assert legend.strip(), f"{where}: a series without a legend: {expr}"
        assert legend != expr
        if "rate(" in expr or "increase(" in expr:
            windows = set(re.findall(r"\[([^\]]+)\]", expr))
            # A verdict over the whole time range (the drills' medians) may use $__range.
            allowed = [{"$__rate_interval"}] + ([{"$__range"}] if kind == "stat" else [])
            assert windows in allowed, f"{where}: {windows}"
    if kind == "heatmap":
        (target,) = panel["targets"]
        assert target["format"] == "heatmap" and target["exemplar"], where
        assert panel["options"]["calculate"] is False
        assert target["legendFormat"] == "{{le}}"
        assert "increase(" in target["expr"] and "_bucket" in target["expr"]


@pytest.mark.parametrize(("where", "panel"), PANELS, ids=IDS)
def test_grouped_series_are_named_by_their_groups(where: str, panel: dict[str, Any]) -> None:
    """`sum by (method, handler)` must be told apart by method and handler in its legend."""
    for target in panel["targets"]:
        expr = target["expr"].strip()
        groups = re.findall(r"\bby \(([^)]*)\)", expr)
        # An outer aggregation without `by` (max(sum by (instance) (...))) leaves one series.
        if not groups or OUTER_AGGREGATION.match(expr) or panel["type"] in {"heatmap", "logs"}:
            continue
        labels = {label.strip() for label in groups[0].split(",")} - {"le"}
        legend = target.get("legendFormat", "")
        missing = [label for label in labels if "{{" + label + "}}" not in legend]
        assert not missing, f"{where}: legend {legend!r} does not show {missing}"


def test_every_board_opens_on_verdicts_then_rows() -> None:
    """Stat panels first (the verdict row), then row headers; detail may sit in collapsed rows."""
    for board in boards():
        kinds = [panel["type"] for panel in board["panels"]]
        first_row = kinds.index("row")
        assert first_row > 0 and set(kinds[:first_row]) == {"stat"}, board["uid"]
        ids = [panel["id"] for panel in every_panel(board, rows=True)]
        assert len(ids) == len(set(ids)), board["uid"]


def test_panel_links_keep_the_time_range_and_variables() -> None:
    for board in boards():
        for panel in every_panel(board):
            for link in panel.get("links", []):
                assert "${__url_time_range}" in link["url"], (board["uid"], panel["title"])
                assert "${__all_variables}" in link["url"]


def test_links_between_boards_keep_the_time_range_and_variables() -> None:
    for board in boards():
        assert board["links"], board["uid"]
        for link in board["links"]:
            assert link["keepTime"] and link["includeVars"], (board["uid"], link["title"])


def test_the_rules_catch_what_they_should() -> None:
    """The checks above on a panel that breaks each rule."""
    bad_stat = {
        "type": "stat",
        "fieldConfig": {"defaults": {"unit": "short", "color": {"mode": "thresholds"}}},
        "targets": [{"expr": "up", "legendFormat": "up"}],
    }
    with pytest.raises(AssertionError, match="turn red"):
        test_every_panel_follows_the_craft_rules("bad", bad_stat)
    fixed_window = {
        "type": "timeseries",
        "fieldConfig": {"defaults": {"unit": "reqps"}},
        "targets": [{"expr": "sum(rate(x[1m]))", "legendFormat": "x"}],
    }
    with pytest.raises(AssertionError, match="1m"):
        test_every_panel_follows_the_craft_rules("bad", fixed_window)
    unnamed = {
        "type": "timeseries",
        "targets": [{"expr": "sum by (method, handler) (x)", "legendFormat": "{{handler}}"}],
    }
    with pytest.raises(AssertionError, match="method"):
        test_grouped_series_are_named_by_their_groups("bad", unnamed)
