"""The incident timeline of the last drill, and a postmortem skeleton to write from it.

    python -m scripts.timeline          write it for the last drill (`make timeline`)

`make scenario` records each drill (`last-drill.json` in FAULTLINE_LAB_DIR: the scenario, when it
ran, every fault it switched on and when it healed) and writes the timeline at its end. The rest
is read from the lab: alerts firing and resolving, and the moments each expected signal of the
signal contract crossed its threshold, from Prometheus; pages and acknowledgements from the
control service's pager. The Markdown goes to `timeline.md` beside the record, to stdout, and to
the control service, whose console shows it.

Where things are: PROMETHEUS_URL, FAULTLINE_CONTROL_URL (as for `make scenario`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from faultline.control.client import control_client

ROOT = Path(__file__).resolve().parents[1]
LAB_DIR = Path(os.environ.get("FAULTLINE_LAB_DIR", ROOT / ".lab"))
DRILL = LAB_DIR / "last-drill.json"
TIMELINE = LAB_DIR / "timeline.md"
CONTRACT = ROOT / "scenarios" / "signal-contract.yml"
STEP_S = 5  # the scrape interval
AFTER_S = 120  # how long after the drill alerts may still resolve and pages arrive
SHOP = 'job="api", handler=~"/api/.*"'
ERROR_BUDGET = 0.01  # the availability SLO: 99%
MONTH_S = 30 * 86400


@dataclass(frozen=True, order=True)
class Entry:
    at: float  # Unix time
    what: str


def record_drill(drill: dict[str, Any]) -> None:
    """Called by the scenario runner when a drill ends (interrupted or not)."""
    DRILL.parent.mkdir(parents=True, exist_ok=True)
    DRILL.write_text(json.dumps(drill, indent=2) + "\n")


class Sources:
    def __init__(self) -> None:
        url = os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090")
        self.prometheus = httpx.Client(base_url=url, timeout=10)
        self.control = control_client()

    def series(
        self, expr: str, start: float, end: float, step: float = STEP_S
    ) -> list[dict[str, Any]]:
        params: dict[str, str | float] = {"query": expr, "start": start, "end": end, "step": step}
        response = self.prometheus.get("/api/v1/query_range", params=params)
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def value(self, expr: str, at: float) -> float | None:
        response = self.prometheus.get("/api/v1/query", params={"query": expr, "time": at})
        response.raise_for_status()
        result = response.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def incidents(self) -> list[dict[str, Any]]:
        response = self.control.get("/api/incidents")
        return list(response.json()["incidents"]) if response.status_code == 200 else []


def alert_entries(sources: Sources, start: float, end: float) -> list[Entry]:
    """Each alert's firing spans (severity page or ticket), from Prometheus's ALERTS series."""
    entries = []
    query = 'max by (alertname, severity) (ALERTS{alertstate="firing", severity!="info"})'
    for series in sources.series(query, start, end + AFTER_S):
        name, severity = series["metric"]["alertname"], series["metric"].get("severity", "")
        times = [float(t) for t, _ in series["values"]]
        span_start = previous = times[0]
        for t in [*times[1:], None]:
            if t is None or t - previous > 1.5 * STEP_S:
                before = " (already firing when the drill started)" if span_start <= start else ""
                entries.append(Entry(span_start, f"alert {name} ({severity}) firing{before}"))
                if previous < end + AFTER_S - STEP_S:
                    entries.append(Entry(previous + STEP_S, f"alert {name} resolved"))
                if t is not None:
                    span_start = t
            if t is not None:
                previous = t
    return entries


def signal_entries(
    sources: Sources, drill: dict[str, Any], rows: dict[str, Any], end: float
) -> list[Entry]:
    """When each expected signal of the drill first crossed its contract threshold."""
    entries = []
    for step in drill["events"]:
        for row in step.get("expect", []):
            contract = rows[row]
            # To the second (a drill's events are seconds apart), and a scrape past the end: a
            # drill that ended soon after a crossing still shows it.
            for series in sources.series(contract["expr"], step["at"], end + STEP_S, step=1):
                over = [
                    float(t) for t, v in series["values"] if float(v) > float(contract["above"])
                ]
                if over:
                    entries.append(
                        Entry(over[0], f"signal {row} crossed its threshold ({contract['above']})")
                    )
                    break
    return entries


def pager_entries(incidents: list[dict[str, Any]]) -> list[Entry]:
    entries = []
    for incident in incidents:
        kind = "paged" if incident["receiver"] == "pager" else "ticket opened"
        where = incident["labels"].get("instance")  # one page per replica, for a per-replica alert
        what = f"{kind}: {incident['alertname']}" + (f" ({where})" if where else "")
        entries.append(Entry(incident["paged_at"], what))
        if incident["acknowledged_at"]:
            entries.append(
                Entry(
                    incident["acknowledged_at"],
                    f"acknowledged: {incident['alertname']} by {incident['acknowledged_by']}",
                )
            )
    return entries


def fault_entries(drill: dict[str, Any]) -> list[Entry]:
    entries = []
    for event in drill["events"]:
        for fault, params in event.get("faults", {}).items():
            shown = json.dumps(params, sort_keys=True) if params else "defaults"
            entries.append(Entry(event["at"], f"fault {fault} switched on ({shown})"))
        if event.get("heal"):
            entries.append(Entry(event["at"], "every fault switched off (heal)"))
    entries.append(Entry(drill["ended_at"], "drill ended: every fault switched off"))
    return entries


def impact(sources: Sources, start: float, end: float) -> list[str]:
    window = f"{max(int(end - start), STEP_S)}s"
    failed = sources.value(
        f'sum(increase(http_requests_total{{{SHOP}, status="5xx"}}[{window}])) or vector(0)', end
    )
    total = sources.value(f"sum(increase(http_requests_total{{{SHOP}}}[{window}]))", end)
    if not total:
        return ["- No shop traffic was recorded during the drill."]
    failed = failed or 0.0
    ratio = failed / total
    burned = (ratio / ERROR_BUDGET) * (end - start) / MONTH_S
    return [
        f"- Requests failed (5xx): {failed:.0f} of {total:.0f} ({ratio:.2%}; the SLO allows 1%).",
        f"- Error budget burned: {burned:.2%} of a 30-day budget in {fmt(end - start)}.",
    ]


def fmt(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def render(drill: dict[str, Any], sources: Sources) -> str:
    rows = yaml.safe_load(CONTRACT.read_text())["faults"]
    start, end = float(drill["started_at"]), float(drill["ended_at"])
    # The drill's own: alerts that started firing during it (one already firing is an earlier
    # drill's, even when its notification, held by its route, arrives now).
    incidents = [
        i for i in sources.incidents() if start <= i["fired_at"] and i["paged_at"] <= end + AFTER_S
    ]
    entries = sorted(
        fault_entries(drill)
        + alert_entries(sources, start, end)
        + signal_entries(sources, drill, rows, end)
        + pager_entries(incidents)
    )
    title = "a mystery incident" if drill.get("hidden") else drill["title"]
    lines = [
        f"# Incident timeline: {title}",
        "",
        f"Drill `{'mystery' if drill.get('hidden') else drill['scenario']}`, started "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(start))}, {fmt(end - start)} long"
        + (f" ({drill['speed']:g}x lab time)" if drill.get("speed", 1) != 1 else "")
        + (", interrupted" if drill.get("interrupted") else "")
        + ".",
        "",
        "| Time | Since start | What happened |",
        "|---|---|---|",
    ]
    for entry in entries:
        clock = time.strftime("%H:%M:%S", time.localtime(entry.at))
        lines.append(f"| {clock} | {fmt(max(entry.at - start, 0))} | {entry.what} |")
    first_fault = min(
        (e.at for e in fault_entries(drill) if "switched on (" in e.what), default=None
    )
    pages = sorted(incidents, key=lambda i: i["paged_at"])
    detection = "No page arrived during the drill."
    if pages and first_fault is not None:
        page = pages[0]
        detection = (
            f"First page: {page['alertname']} ({page['severity']}), "
            f"{fmt(page['paged_at'] - first_fault)} after the first fault switched on."
        )
    acked = [i for i in pages if i["acknowledged_at"]]
    response = (
        "; ".join(
            f"{i['alertname']} acknowledged after {fmt(i['time_to_acknowledge'])}" for i in acked
        )
        or "No page was acknowledged."
    )
    lines += [
        "",
        "# Postmortem (skeleton)",
        "",
        "## Summary",
        "",
        "_What happened, in two sentences, for someone who was not there._",
        "",
        "## Impact",
        "",
        *impact(sources, start, end),
        "",
        "## Detection",
        "",
        f"- {detection}",
        "",
        "## Response",
        "",
        f"- {response}",
        "",
        "## Root cause",
        "",
        "_Left blank until the key is read (`make reveal` after a mystery drill)._",
        "",
        "## Action items",
        "",
        "- [ ] _What would have found it sooner (an alert, a panel, a log line)?_",
        "- [ ] _What would have stopped it from happening?_",
        "",
    ]
    return "\n".join(lines)


def write_timeline() -> Path | None:
    """Render the last drill's timeline to TIMELINE, and hand it to the control service for the
    console (when it has the admin token and the pager is on)."""
    if not DRILL.exists():
        print("No drill has run yet: `make scenario NAME=...` records one.", file=sys.stderr)
        return None
    drill = json.loads(DRILL.read_text())
    sources = Sources()
    text = render(drill, sources)
    TIMELINE.write_text(text)
    response = sources.control.put("/api/drills/last/timeline", json={"markdown": text[:12_000]})
    if response.status_code != 200:
        print(f"(the console will not show it: {response.status_code} {response.text[:120]})")
    return TIMELINE


def main() -> int:
    path = write_timeline()
    if path is None:
        return 1
    print(path.read_text())
    print(f"(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
