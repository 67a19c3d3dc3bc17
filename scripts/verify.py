"""`make verify`: on a running stack (Docker host), ask Prometheus, Loki, Tempo and Grafana
whether every signal the lab promises is really there, and report each present or missing.

Exit code 1 if anything is missing. Where each service is: PROMETHEUS_URL, LOKI_URL, TEMPO_URL,
GRAFANA_URL (set by the `tools` service when `make verify` runs it in the stack), else the
published ports on this machine's loopback (.env via make): Prometheus, Loki and Tempo are
published there only, whatever BIND_ADDRESS says.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

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
    return {d["uid"] for d in r.json()} >= {"prometheus", "loki", "tempo"}


def grafana_dashboards() -> bool:
    r = httpx.get(f"{GRAFANA}/api/search", params={"tag": "faultline"}, timeout=5)
    return len(r.json()) >= 6


def main() -> int:
    checks: dict[str, Callable[[], bool]] = {
        name: (lambda q=q: prom(q)) for name, q in PROMQL_PRESENT.items()
    }
    checks |= {
        "exemplars stored": exemplars,
        "logs in Loki with trace ids": loki_logs_with_trace_ids,
        "traces in Tempo": tempo_traces,
        "Grafana datasources": grafana_datasources,
        "Grafana dashboards": grafana_dashboards,
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
