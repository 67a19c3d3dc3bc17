"""Faultline's Grafana dashboards, generated: `python grafana/dashboards.py` writes
grafana/dashboards/*.json (commit them; a test checks they match this file).

One place for panel shapes, datasource uids, the fault annotation every dashboard carries, and
every PromQL expression (tests execute them against a real Prometheus).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faultline.promql import SHOP, p99  # the same selector and quantile as the console charts

OUT = Path(__file__).resolve().parent / "dashboards"
PROM = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
TEMPO = {"type": "tempo", "uid": "tempo"}
SCHEMA_VERSION = 41

# Series only the full stack produces (collector, Tempo's metrics generator): parsed by the
# tests, not executed against the test Prometheus; `make verify` checks them on a running stack.
FULL_STACK_ONLY_METRICS = ("otelcol_", "traces_spanmetrics_", "traces_service_graph_")

FAULT_ANNOTATION = {
    "name": "Faults",
    "datasource": PROM,
    "enable": True,
    "iconColor": "red",
    "expr": "max by (fault) (fault_active) > 0",
    "step": "5s",
    "titleFormat": "Fault: {{fault}}",
    "tagKeys": "fault",
}
ALERT_ANNOTATION = {
    "name": "Alerts firing",
    "datasource": PROM,
    "enable": True,
    "iconColor": "orange",
    "expr": 'ALERTS{alertstate="firing", severity!="info"}',
    "step": "15s",
    "titleFormat": "{{alertname}}",
    "tagKeys": "alertname,severity",
}


class Board:
    def __init__(self, uid: str, title: str, description: str) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.panels: list[dict[str, Any]] = []
        self._x = self._y = 0
        self._row_height = 0

    def _place(self, width: int, height: int) -> dict[str, int]:
        if self._x + width > 24:
            self._x, self._y = 0, self._y + self._row_height
            self._row_height = 0
        pos = {"x": self._x, "y": self._y, "w": width, "h": height}
        self._x += width
        self._row_height = max(self._row_height, height)
        return pos

    def panel(
        self,
        kind: str,
        title: str,
        description: str,
        targets: list[tuple[str, str]],
        unit: str = "short",
        width: int = 12,
        height: int = 8,
        datasource: dict[str, str] = PROM,
        **extra: Any,
    ) -> None:
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": kind,
                "title": title,
                "description": description,
                "datasource": datasource,
                "gridPos": self._place(width, height),
                "targets": [
                    {
                        "refId": chr(65 + i),
                        "datasource": datasource,
                        "expr": expr,
                        "legendFormat": legend,
                    }
                    for i, (expr, legend) in enumerate(targets)
                ],
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {},
                **extra,
            }
        )

    def timeseries(
        self,
        title: str,
        description: str,
        *targets: tuple[str, str],
        unit: str = "short",
        width: int = 12,
        exemplars: bool = False,
    ) -> None:
        self.panel("timeseries", title, description, list(targets), unit, width)
        if exemplars:
            for target in self.panels[-1]["targets"]:
                target["exemplar"] = True

    def stat(
        self,
        title: str,
        description: str,
        *targets: tuple[str, str],
        unit: str = "short",
        width: int = 6,
    ) -> None:
        self.panel("stat", title, description, list(targets), unit, width, height=5)

    def logs(self, title: str, description: str, expr: str, width: int = 24) -> None:
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "logs",
                "title": title,
                "description": description,
                "datasource": LOKI,
                "gridPos": self._place(width, 10),
                "targets": [{"refId": "A", "datasource": LOKI, "expr": expr}],
                "options": {"showTime": True, "wrapLogMessage": True},
            }
        )

    def json(self, links: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["faultline"],
            "timezone": "browser",
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "editable": True,
            "refresh": "5s",
            "graphTooltip": 1,
            "time": {"from": "now-15m", "to": "now"},
            "annotations": {"list": [FAULT_ANNOTATION, ALERT_ANNOTATION]},
            "links": links,
            "templating": {"list": []},
            "panels": self.panels,
        }


def overview() -> Board:
    b = Board(
        "faultline-overview",
        "Faultline: lab overview",
        "Start here: what is broken, what it costs the SLOs, and where to look next.",
    )
    b.stat(
        "Active faults",
        "Faults switched on right now (from every replica and the control "
        "service). Each also shows as a red region on every graph.",
        ("count(max by (fault) (fault_active) == 1) or vector(0)", "faults on"),
    )
    b.stat(
        "Alerts firing",
        "Alerts currently firing (severity page or ticket). Bad: anything "
        "above zero; the annotation on the graphs says which.",
        ('count(ALERTS{alertstate="firing", severity!="info"}) or vector(0)', "firing"),
    )
    b.stat(
        "Availability (5m)",
        "Share of shop requests that did not fail with 5xx over 5 minutes. "
        "SLO: 99%. Bad: below 0.99.",
        ("1 - faultline:sli_errors:ratio_rate5m", "availability"),
        unit="percentunit",
    )
    b.stat(
        "Fast enough (5m)",
        "Share of shop requests served within 250 ms over 5 minutes. SLO: 95%. Bad: below 0.95.",
        ("1 - faultline:sli_slow:ratio_rate5m", "within 250 ms"),
        unit="percentunit",
    )
    b.timeseries(
        "Error-budget burn rate",
        "How fast each SLO's budget is being spent (1 = exactly "
        "on budget). Bad: above 14.4 on both the 1m and 5m lines pages someone.",
        ("faultline:sli_errors:ratio_rate1m / 0.01", "availability 1m"),
        ("faultline:sli_errors:ratio_rate5m / 0.01", "availability 5m"),
        ("faultline:sli_slow:ratio_rate1m / 0.05", "latency 1m"),
        ("faultline:sli_slow:ratio_rate5m / 0.05", "latency 5m"),
    )
    b.timeseries(
        "Requests and errors",
        "Shop requests per second, and the share that failed. Bad: the error line leaving zero.",
        (f"sum(rate(http_requests_total{{{SHOP}}}[1m]))", "requests/s"),
        (f'sum(rate(http_requests_total{{{SHOP}, status="5xx"}}[1m])) or vector(0)', "5xx/s"),
    )
    b.timeseries(
        "p99 latency: client vs server",
        "What shoppers waited (load generator) beside "
        "what the API measured. A gap means time spent outside the handler: a blocked "
        "event loop, queueing in the server.",
        (p99("http_request_duration_seconds", SHOP), "server p99"),
        (p99("loadgen_request_duration_seconds", 'job="loadgen"'), "client p99"),
        unit="s",
    )
    b.timeseries(
        "Connection pool saturation",
        "Share of the pool's connections held by requests, "
        "and requests waiting for one. Bad: used at 100% with waiters: requests will time "
        "out with 503.",
        (
            'sum(db_client_connection_count{job="api", db_client_connection_state="used"}) / sum(db_client_connection_max{job="api"})',
            "used / max",
        ),
        ('sum(db_client_connection_pending_requests{job="api"})', "waiting"),
        unit="short",
    )
    b.timeseries(
        "Event-loop lag (p99)",
        "How late the API's event loop wakes a 100 ms timer. "
        "Healthy: a millisecond or two. Bad: tens of milliseconds or more: something "
        "synchronous is blocking every request on that replica.",
        (p99("asyncio_event_loop_lag_seconds", 'job="api"', "instance"), "{{instance}}"),
        unit="s",
    )
    b.timeseries(
        "Cache hit ratio",
        "Share of product reads served from Redis. Bad: a sudden drop "
        "(cache outage) moves the load onto PostgreSQL.",
        (
            'sum(rate(cache_requests_total{job="api", result="hit"}[1m])) / sum(rate(cache_requests_total{job="api"}[1m]))',
            "hit ratio",
        ),
        unit="percentunit",
    )
    return b


def api() -> Board:
    b = Board(
        "faultline-api",
        "Faultline: API",
        "RED per route, latency distribution with "
        "exemplars (click a dot to open its trace), status codes, in-flight requests.",
    )
    b.timeseries(
        "Requests per route",
        "Requests per second by route template.",
        (f"sum by (handler) (rate(http_requests_total{{{SHOP}}}[1m]))", "{{handler}}"),
        unit="reqps",
    )
    b.timeseries(
        "Errors per route",
        "5xx per second by route. Bad: any route above zero.",
        (
            f'sum by (handler) (rate(http_requests_total{{{SHOP}, status="5xx"}}[1m])) or vector(0)',
            "{{handler}}",
        ),
        unit="reqps",
    )
    b.timeseries(
        "p99 and p50 per route",
        "Server-side latency by route. Dots are exemplars: "
        "click one to open that request's trace in Tempo.",
        (p99("http_request_duration_seconds", SHOP, "handler"), "p99 {{handler}}"),
        (
            f"histogram_quantile(0.5, sum by (handler, le) (rate(http_request_duration_seconds_bucket{{{SHOP}}}[1m])))",
            "p50 {{handler}}",
        ),
        unit="s",
        width=24,
        exemplars=True,
    )
    b.panel(
        "heatmap",
        "Latency heatmap",
        "Distribution of request durations over time; exemplars "
        "link to traces. A second band appearing above the first is a fault in progress.",
        [(f"sum by (le) (rate(http_request_duration_seconds_bucket{{{SHOP}}}[1m]))", "{{le}}")],
        unit="s",
        width=12,
        options={
            "calculate": False,
            "yAxis": {"unit": "s"},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
        },
    )
    b.timeseries(
        "Status codes",
        "Responses per second by status class.",
        ('sum by (status) (rate(http_requests_total{job="api"}[1m]))', "{{status}}"),
        unit="reqps",
    )
    b.timeseries(
        "In flight",
        "Requests being served right now, per replica. Rising with flat "
        "throughput means requests are stuck (pool, locks, slow queries).",
        ('sum by (instance) (http_requests_inprogress{job="api"})', "{{instance}}"),
    )
    b.timeseries(
        "Client-side p99 per journey",
        "What the load generator saw per journey (includes network and server queueing).",
        (p99("loadgen_request_duration_seconds", 'job="loadgen"', "name"), "{{name}}"),
        unit="s",
    )
    b.logs(
        "Errors (logs)",
        "Unhandled errors logged by the API, with their trace ids (click to open the trace).",
        '{service_name="faultline-api"} |= "unhandled_error"',
    )
    return b


def database() -> Board:
    b = Board(
        "faultline-database",
        "Faultline: database & pool",
        "The connection pool as the "
        "API sees it (client side) beside PostgreSQL's own view (server side).",
    )
    b.timeseries(
        "Pool connections",
        "Connections held by requests (used), idle in the pool, and "
        "the maximum. Bad: used pinned at max.",
        (
            'sum by (db_client_connection_state) (db_client_connection_count{job="api"})',
            "{{db_client_connection_state}}",
        ),
        ('sum(db_client_connection_max{job="api"})', "max"),
    )
    b.timeseries(
        "Waiting for a connection",
        "Requests queued for a pool connection. Healthy: "
        "zero. Bad: a standing queue; they time out after the acquire timeout.",
        ('sum by (instance) (db_client_connection_pending_requests{job="api"})', "{{instance}}"),
    )
    b.timeseries(
        "Time to get a connection (p99)",
        "How long requests waited for a connection.",
        (p99("db_client_connection_wait_time_seconds", 'job="api"', "instance"), "{{instance}}"),
        unit="s",
    )
    b.timeseries(
        "Acquire timeouts",
        "Requests that gave up waiting (answered 503). Bad: any.",
        (
            'sum by (instance) (rate(db_client_connection_timeouts_total{job="api"}[1m]))',
            "{{instance}}",
        ),
        unit="reqps",
    )
    b.timeseries(
        "Time a connection is held (p99)",
        "How long requests hold a connection. Rising with slow queries or lock waits.",
        (p99("db_client_connection_use_time_seconds", 'job="api"', "instance"), "{{instance}}"),
        unit="s",
    )
    b.timeseries(
        "Statement duration (p99) by query",
        "Per low-cardinality query name. "
        "`fault pg_sleep` is the slow-queries or lock-contention fault at work.",
        (
            p99("db_client_operation_duration_seconds", 'job="api"', "db_query_summary"),
            "{{db_query_summary}}",
        ),
        unit="s",
    )
    b.timeseries(
        "Statements per second by query",
        "An N+1 pattern shows as one query's rate jumping while the request rate does not.",
        (
            'sum by (db_query_summary) (rate(db_client_operation_duration_seconds_count{job="api"}[1m]))',
            "{{db_query_summary}}",
        ),
        unit="ops",
    )
    b.timeseries(
        "PostgreSQL: connections by state",
        "The server's own view (postgres-exporter): "
        "idle in transaction for long is a leak or a lock holder.",
        ('sum by (state) (pg_stat_activity_count{datname!~"template.*|postgres"})', "{{state}}"),
    )
    b.timeseries(
        "PostgreSQL: locks by mode",
        "Locks held or awaited. RowShare/RowExclusive climbing "
        "with order latency is lock contention.",
        ('sum by (mode) (pg_locks_count{datname!~"template.*|postgres"})', "{{mode}}"),
    )
    b.timeseries(
        "PostgreSQL: transactions",
        "Commits and rollbacks per second.",
        ('sum(rate(pg_stat_database_xact_commit{datname!~"template.*|postgres"}[1m]))', "commits"),
        (
            'sum(rate(pg_stat_database_xact_rollback{datname!~"template.*|postgres"}[1m]))',
            "rollbacks",
        ),
        unit="ops",
    )
    return b


def runtime() -> Board:
    b = Board(
        "faultline-runtime",
        "Faultline: runtime",
        "The API process per replica: event loop, "
        "CPU, memory, garbage collection, file descriptors.",
    )
    b.timeseries(
        "Event-loop lag",
        "p50 and p99 of how late the loop runs a 100 ms timer. Bad: "
        "p99 over 100 ms: synchronous work blocks every request on that replica.",
        (p99("asyncio_event_loop_lag_seconds", 'job="api"', "instance"), "p99 {{instance}}"),
        (
            'histogram_quantile(0.5, sum by (instance, le) (rate(asyncio_event_loop_lag_seconds_bucket{job="api"}[1m])))',
            "p50 {{instance}}",
        ),
        unit="s",
        width=24,
    )
    b.timeseries(
        "CPU",
        "CPU seconds per second (1 = one core busy). Bad: pinned at 1: the replica is saturated.",
        ('sum by (instance) (rate(process_cpu_seconds_total{job="api"}[1m]))', "{{instance}}"),
    )
    b.timeseries(
        "Resident memory",
        "RSS per replica. Bad: a line that only goes up (memory leak).",
        ('sum by (instance) (process_resident_memory_bytes{job="api"})', "{{instance}}"),
        unit="bytes",
    )
    b.timeseries(
        "Garbage collections",
        "Garbage collections per second by generation. Gen 2 climbing with memory is churn.",
        (
            'sum by (generation) (rate(python_gc_collections_total{job="api"}[1m]))',
            "gen {{generation}}",
        ),
        unit="ops",
    )
    b.timeseries(
        "Open file descriptors",
        "Sockets and files the process holds open. Bad: climbing steadily (a connection leak).",
        ('sum by (instance) (process_open_fds{job="api"})', "{{instance}}"),
    )
    return b


def cache() -> Board:
    b = Board(
        "faultline-cache",
        "Faultline: cache",
        "The product cache from the API's side, and Redis's own view.",
    )
    b.timeseries(
        "Lookups by result",
        "Cache lookups per second: hits, misses, errors. Bad: errors "
        "(Redis unreachable); reads then fall back to PostgreSQL.",
        ('sum by (result) (rate(cache_requests_total{job="api"}[1m]))', "{{result}}"),
        unit="ops",
    )
    b.timeseries(
        "Hit ratio",
        "Share of lookups served from Redis.",
        (
            'sum(rate(cache_requests_total{job="api", result="hit"}[1m])) / sum(rate(cache_requests_total{job="api"}[1m]))',
            "hit ratio",
        ),
        unit="percentunit",
    )
    b.timeseries(
        "Cache call latency (p99)",
        "Per operation, failed calls included.",
        (p99("cache_operation_duration_seconds", 'job="api"', "operation"), "{{operation}}"),
        unit="s",
    )
    b.timeseries(
        "Redis: commands and clients",
        "Redis's own view (redis-exporter).",
        ("sum(rate(redis_commands_processed_total[1m]))", "commands/s"),
        ("sum(redis_connected_clients)", "clients"),
    )
    b.timeseries(
        "Redis: memory",
        "Memory Redis uses (the cache is capped at 64 MiB, LRU).",
        ("sum(redis_memory_used_bytes)", "used"),
        unit="bytes",
    )
    b.timeseries(
        "Redis: keyspace hits and misses",
        "Hits and misses as Redis itself counts them: compare with the API's view above.",
        ("sum(rate(redis_keyspace_hits_total[1m]))", "hits/s"),
        ("sum(rate(redis_keyspace_misses_total[1m]))", "misses/s"),
        unit="ops",
    )
    return b


def pipeline() -> Board:
    b = Board(
        "faultline-pipeline",
        "Faultline: telemetry pipeline",
        "The OpenTelemetry collector "
        "watching itself: what it accepted, refused, exported and failed to export.",
    )
    for signal, unit in (("spans", "spans"), ("log_records", "log records")):
        b.timeseries(
            f"Collector {unit}",
            f"{unit.capitalize()} per second in and out. Bad: "
            "refused or failed above zero: telemetry is being lost.",
            (f"sum(rate(otelcol_receiver_accepted_{signal}_total[1m]))", "accepted"),
            (f"sum(rate(otelcol_receiver_refused_{signal}_total[1m])) or vector(0)", "refused"),
            (f"sum(rate(otelcol_exporter_sent_{signal}_total[1m]))", "sent"),
            (f"sum(rate(otelcol_exporter_send_failed_{signal}_total[1m])) or vector(0)", "failed"),
            unit="ops",
        )
    b.timeseries(
        "Exporter queues",
        "Queue fill per exporter. Bad: at capacity (data is dropped).",
        ("sum by (exporter) (otelcol_exporter_queue_size)", "size {{exporter}}"),
        ("sum by (exporter) (otelcol_exporter_queue_capacity)", "capacity {{exporter}}"),
    )
    b.timeseries(
        "Spans per service (Tempo span metrics)",
        "Spans Tempo's metrics generator saw: sampled traces only (OTEL_TRACES_SAMPLER_ARG; "
        "the lab traces every request, the API's own default is one in ten).",
        ("sum by (service) (rate(traces_spanmetrics_calls_total[1m]))", "{{service}}"),
        unit="ops",
    )
    return b


BOARDS = (overview, api, database, runtime, cache, pipeline)


def render() -> dict[str, str]:
    boards = [build() for build in BOARDS]
    links = [
        {
            "title": b.title.removeprefix("Faultline: "),
            "type": "link",
            "url": f"/d/{b.uid}",
            "targetBlank": False,
            "icon": "dashboard",
        }
        for b in boards
    ]
    return {f"{b.uid}.json": json.dumps(b.json(links), indent=2) + "\n" for b in boards}


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
    print(f"wrote {len(BOARDS)} dashboards to {OUT}")
