"""The dashboards' links into Explore, read as Grafana opens them on a click (variables filled,
URI-encoded): each goes to a provisioned datasource, names only labels its series have, and asks
only for what the API really emits (span names and attributes, log events and their fields).
Whether Tempo and Loki accept each query is checked on the running stack by `make verify`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.dashboards import every_panel
from scripts.verify import SAMPLE_LABELS, explore_queries
from tests.support.api_names import logged_events, string_constants

ROOT = Path(__file__).resolve().parents[2]
BOARDS = [
    json.loads(p.read_text()) for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
]
DATASOURCES = {
    d["uid"]: d["type"]
    for d in yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text()
    )["datasources"]
}
LINKS = [
    (f"{board['uid']} / {panel} / {title}", uid, query)
    for board in BOARDS
    for panel, title, uid, query in explore_queries(board, 1_000, 2_000)
]
INTRINSICS = {"kind", "duration", "name", "status"}


def data_links(panel: dict[str, Any]) -> list[dict[str, Any]]:
    return list(panel.get("fieldConfig", {}).get("defaults", {}).get("links", []))


def trace_problems(traceql: str) -> list[str]:
    found = []
    if not re.fullmatch(r"\{ .+ \}", traceql):
        found.append("not one spanset { ... }")
    for scope, name in re.findall(r"\b(span|resource)\.([\w.]+)", traceql):
        if scope == "resource":
            if name == "service.instance.id":  # a replica's name (faultline.telemetry.otel)
                continue
            if name != "service.name" or '"faultline-api"' not in traceql:
                found.append(f"resource.{name}: only the API's service.name is asked for")
        elif name not in string_constants() and not any(
            name.startswith(prefix[:-1]) for prefix in string_constants() if prefix.endswith("{")
        ):
            found.append(f"the API sets no span attribute {name!r}")
    for span_name in re.findall(r'\bname = "([^"]+)"', traceql):
        if span_name not in string_constants():
            found.append(f"the API starts no span {span_name!r}")
    return found


def log_problems(logql: str) -> list[str]:
    # The API's stream, or one replica's (Loki indexes service.instance.id).
    if not re.match(r'\{service_name="faultline-api"(, service_instance_id="[^"]+")?\} ', logql):
        return ["not the API's log stream (or one replica's)"]
    events = re.findall(r'\|= "([^"]+)"', logql)
    if len(events) != 1 or events[0] not in logged_events():
        return [f"not one event the API logs: {events}"]
    fields = logged_events()[events[0]]
    return [
        f"{events[0]!r} carries no field {field!r}"
        for field in re.findall(r"\| (\w+) *(?:=|>=|<=|>|<|!=)", logql)
        if field not in fields
    ]


def problems(uid: str, query: dict[str, Any]) -> list[str]:
    kind = DATASOURCES.get(uid)
    if kind == "tempo" and query.get("queryType") == "traceql":
        return trace_problems(query["query"])
    if kind == "loki":
        return log_problems(query["expr"])
    return [f"datasource {uid!r} ({kind}) with query {query}"]


def test_there_are_links_to_traces_and_to_logs() -> None:
    kinds = {DATASOURCES[uid] for _, uid, _ in LINKS}
    assert kinds == {"tempo", "loki"}
    assert len(LINKS) >= 20


@pytest.mark.parametrize(("where", "uid", "query"), LINKS, ids=[w for w, _, _ in LINKS])
def test_every_explore_link_asks_for_what_exists(
    where: str, uid: str, query: dict[str, Any]
) -> None:
    assert "${" not in json.dumps(query), "a variable Grafana would leave unfilled"
    assert not problems(uid, query), problems(uid, query)


@pytest.mark.parametrize(
    "panel",
    [p for b in BOARDS for p in every_panel(b) if data_links(p)],
    ids=lambda p: p["title"],
)
def test_link_variables_are_labels_of_every_series(panel: dict[str, Any]) -> None:
    used = set(re.findall(r"__field\.labels\.(\w+)", json.dumps(panel["fieldConfig"])))
    assert used <= set(SAMPLE_LABELS), "make verify has no sample value for it"
    for target in panel["targets"]:
        legend = set(re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]))
        assert used <= legend, f"{target['expr']}: series without {used - legend}"


def test_every_per_route_panel_opens_that_routes_traces() -> None:
    for board in BOARDS:
        for panel in every_panel(board):
            if "{{handler}}" in json.dumps(panel.get("targets", [])):
                urls = [link["url"] for link in data_links(panel)]
                assert any("tempo" in url and "handler" in url for url in urls), panel["title"]


def test_the_checks_catch_what_they_should() -> None:
    assert trace_problems('{ resource.service.name = "faultline-api" && kind = server }') == []
    assert trace_problems('{ resource.service.name = "faultline-api" && span.http.rout = "/" }')
    assert trace_problems('{ resource.service.name = "faultline-api" && name = "db.acquire" }')
    assert (
        trace_problems(
            '{ resource.service.name = "faultline-api" && span.faultline.fault.x = true }'
        )
        == []
    )
    assert log_problems('{service_name="faultline-api"} |= "db.pool_exhausted"') == []
    assert log_problems('{service_name="faultline-api"} |= "db_pool_exhausted"')
    assert log_problems('{service_name="faultline-api"} |= "request" | status >= 500') == []
    assert log_problems('{service_name="faultline-api"} |= "request" | code >= 500')
    assert problems("prometheus", {"expr": "up"})
