"""`make verify`: on a running stack (Docker host), ask Prometheus, Loki, Tempo and Grafana
whether every signal the lab promises is really there, and report each present or missing.

Exit code 1 if anything is missing. Where each service is: PROMETHEUS_URL, LOKI_URL, TEMPO_URL,
GRAFANA_URL (set by the `tools` service when `make verify` runs it in the stack), else the
published ports on this machine's loopback (.env via make): Prometheus, Loki and Tempo are
published there only, whatever BIND_ADDRESS says.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import httpx


def service_url(name: str, default_port: str) -> str:
    published = f"http://127.0.0.1:{os.environ.get(f'{name}_PORT', default_port)}"
    return os.environ.get(f"{name}_URL", published).rstrip("/")


PROMETHEUS = service_url("PROMETHEUS", "9090")
LOKI = service_url("LOKI", "3100")
TEMPO = service_url("TEMPO", "3200")
GRAFANA = service_url("GRAFANA", "3000")

PROMQL_PRESENT = {
    "API scraped": 'up{job="api"} == 1',
    "RED metrics": 'http_requests_total{job="api"}',
    "pool metrics": 'db_client_connection_count{job="api"}',
    "event-loop lag": 'asyncio_event_loop_lag_seconds_count{job="api"}',
    "client-side metrics": "loadgen_requests_total",
    "PostgreSQL exporter": "pg_up == 1",
    "Redis exporter": "redis_up == 1",
    "collector accepting spans": "otelcol_receiver_accepted_spans_total > 0",
    "collector accepting logs": "otelcol_receiver_accepted_log_records_total > 0",
    "Tempo span metrics": "traces_spanmetrics_calls_total",
    "Tempo service graph": "traces_service_graph_request_total",
    "SLO recording rules": "faultline:sli_errors:ratio_rate5m",
}


def prom(query: str) -> bool:
    r = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": query}, timeout=5)
    return bool(r.json()["data"]["result"])


def exemplars() -> bool:
    now = time.time()
    r = httpx.get(
        f"{PROMETHEUS}/api/v1/query_exemplars",
        timeout=5,
        params={"query": "http_request_duration_seconds_bucket", "start": now - 600, "end": now},
    )
    return any(series["exemplars"] for series in r.json()["data"])


def loki_logs_with_trace_ids() -> bool:
    r = httpx.get(
        f"{LOKI}/loki/api/v1/query_range",
        timeout=10,
        params={
            "query": '{service_name="faultline-api"} | trace_id != ""',
            "limit": 5,
            "start": int((time.time() - 600) * 1e9),
        },
    )
    return any(stream["values"] for stream in r.json()["data"]["result"])


def tempo_traces() -> bool:
    r = httpx.get(
        f"{TEMPO}/api/search",
        params={"q": '{resource.service.name="faultline-api"}', "limit": 5},
        timeout=10,
    )
    return bool(r.json().get("traces"))


def grafana_datasources() -> bool:
    r = httpx.get(f"{GRAFANA}/api/datasources", timeout=5)
    return {d["uid"] for d in r.json()} >= {"prometheus", "alertmanager", "loki", "tempo"}


def alertmanager_connected() -> bool:
    r = httpx.get(f"{PROMETHEUS}/api/v1/alertmanagers", timeout=5)
    return bool(r.json()["data"]["activeAlertmanagers"])


def grafana_dashboards() -> bool:
    r = httpx.get(f"{GRAFANA}/api/search", params={"tag": "faultline"}, timeout=5)
    return len(r.json()) >= 6


# Values for the series labels that the dashboards' Explore links name: a real route, method
# and fault, as a click on such a series would give.
SAMPLE_LABELS = {
    "method": "GET",
    "handler": "/api/v1/products",
    "fault": "latency",
    "instance": "api-1",
}
LINK_VARIABLE = re.compile(r"\$\{([\w.]+)\}")


def explore_queries(
    board: dict[str, Any], start_ms: int, end_ms: int
) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """Each Explore data link of a dashboard (its JSON), as Grafana would open it on a click over
    [start_ms, end_ms]: (panel title, link title, datasource uid, query). Variables are filled
    URI-encoded, as Grafana does; a variable with no value here is left as it is."""
    values = {"__from": str(start_ms), "__to": str(end_ms)}
    values |= {f"__field.labels.{k}": v for k, v in SAMPLE_LABELS.items()}
    for top in board["panels"]:
        for panel in (top, *top.get("panels", [])):
            for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", []):
                url = urllib.parse.urlsplit(link["url"])
                if url.path != "/explore":
                    continue
                filled = LINK_VARIABLE.sub(
                    lambda m: urllib.parse.quote(values.get(m[1], m[0]), safe=""), url.query
                )
                (pane,) = json.loads(urllib.parse.parse_qs(filled)["panes"][0]).values()
                (query,) = pane["queries"]
                yield panel["title"], link["title"], pane["datasource"], query


def explore_link_failures() -> list[str]:
    """Every Explore link of the provisioned dashboards, run on Tempo or Loki over the last 15
    minutes: the links whose query the backend refuses."""
    end = time.time()
    start = end - 900
    failures, seen = [], set()
    for found in httpx.get(f"{GRAFANA}/api/search", params={"tag": "faultline"}, timeout=5).json():
        board = httpx.get(f"{GRAFANA}/api/dashboards/uid/{found['uid']}", timeout=5).json()
        for panel, title, datasource, query in explore_queries(
            board["dashboard"], int(start * 1000), int(end * 1000)
        ):
            text = query.get("query") or query.get("expr", "")
            if text in seen:
                continue
            seen.add(text)
            if datasource == "tempo":
                params = {"q": text, "start": int(start), "end": int(end), "limit": 5}
                r = httpx.get(f"{TEMPO}/api/search", params=params, timeout=10)
            else:
                params = {"query": text, "start": int(start * 1e9), "end": int(end * 1e9)}
                r = httpx.get(f"{LOKI}/loki/api/v1/query_range", params=params, timeout=10)
            if r.status_code != 200:
                failures.append(f"{panel} / {title}: {r.status_code} {r.text[:200]}")
    return failures


def explore_links_run() -> bool:
    failures = explore_link_failures()
    for failure in failures:
        print(f"           {failure}")
    return not failures


def main() -> int:
    checks: dict[str, Callable[[], bool]] = {
        name: (lambda q=q: prom(q)) for name, q in PROMQL_PRESENT.items()
    }
    checks |= {
        "exemplars stored": exemplars,
        "logs in Loki with trace ids": loki_logs_with_trace_ids,
        "traces in Tempo": tempo_traces,
        "Grafana datasources": grafana_datasources,
        "Prometheus sends alerts to Alertmanager": alertmanager_connected,
        "Grafana dashboards": grafana_dashboards,
        "dashboards' Explore links run on Tempo and Loki": explore_links_run,
    }
    missing = 0
    for name, check in checks.items():
        try:
            ok = check()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            ok, name = False, f"{name} ({type(exc).__name__})"
        missing += not ok
        print(f"  {'present' if ok else 'MISSING':8} {name}")
    print(f"{len(checks) - missing}/{len(checks)} signals present")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
