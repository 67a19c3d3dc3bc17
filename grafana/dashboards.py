"""Faultline's Grafana dashboards, generated: `python grafana/dashboards.py` writes
grafana/dashboards/*.json (commit them; a test checks they match this file).

One place for panel shapes, datasource uids, the fault annotation every dashboard carries, and
every PromQL expression (tests execute them against a real Prometheus).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

from faultline import promql
from faultline.promql import SHOP  # the same selector as the console charts

OUT = Path(__file__).resolve().parent / "dashboards"
PROM = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
TEMPO = {"type": "tempo", "uid": "tempo"}
SCHEMA_VERSION = 41
# Range windows follow the scrape interval and the zoom (Grafana's $__rate_interval), never a
# fixed [1m]. The dashboard-query test substitutes a real window before running each expression.
RATE = "$__rate_interval"
# The board's variables: a replica (Prometheus's `instance`) and a route, each "All" by default.
REPLICA = 'instance=~"$instance"'
API = f'job="api", {REPLICA}'
SHOP_ON = f"{SHOP}, {REPLICA}"
ROUTES = f'{SHOP_ON}, handler=~"$route"'
VARIABLES = [
    {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROM,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,  # on time range change: a replica started mid-workshop appears
        "includeAll": True,
        "multi": True,
        "allValue": ".+",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }
    for name, label, query in (
        ("instance", "Replica", 'label_values(up{job="api"}, instance)'),
        ("route", "Route", f"label_values(http_requests_total{{{SHOP}}}, handler)"),
    )
]
# Threshold lines with a meaning, drawn on the panels that show that quantity.
LATENCY_SLO_S = 0.25  # the latency SLO: 95% of shop requests within 250 ms
ACQUIRE_TIMEOUT_S = 2.0  # DB_ACQUIRE_TIMEOUT_SECONDS in .env: a wait this long is a 503
PAGE_BURN, TICKET_BURN = 14.4, 6.0  # the burn rates the SLO alerts fire at


def p99(metric: str, selector: str, by: str = "") -> str:
    return promql.quantile(0.99, metric, selector, by, window=RATE)


def p50(metric: str, selector: str, by: str = "") -> str:
    return promql.quantile(0.5, metric, selector, by, window=RATE)


def every_panel(board: dict[str, Any], rows: bool = False) -> list[dict[str, Any]]:
    """Every panel of a generated board (its JSON), those inside collapsed rows included; the
    row headers too when `rows`. Tests read the boards through this."""
    found = []
    for top in board["panels"]:
        if top["type"] != "row" or rows:
            found.append(top)
        found += top.get("panels", [])
    return found


def steps(*pairs: tuple[float | None, str]) -> dict[str, Any]:
    """Grafana thresholds: (from value, color), the first from minus infinity (None)."""
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in pairs]}


# A stat's colours: red when the thing is bad.
BAD_ABOVE_ZERO = steps((None, "green"), (1, "red"))
ANY_RATE = steps((None, "green"), (0.001, "red"))  # a rate of something that should never happen

# Series only the full stack produces (collector, Tempo's metrics generator): parsed by the
# tests, not executed against the test Prometheus; `make verify` checks them on a running stack.
FULL_STACK_ONLY_METRICS = ("otelcol_", "traces_spanmetrics_", "traces_service_graph_")

FAULT_ANNOTATION = {
    "name": "Faults",
    "datasource": PROM,
    "enable": True,
    "iconColor": "red",
    # Where it acts too: replica="api-2" for a fault on one replica, "all" for every replica.
    "expr": "max by (fault, replica) (fault_scope) > 0",
    "step": "5s",
    "titleFormat": "Fault: {{fault}} (replica: {{replica}})",
    "tagKeys": "fault,replica",
}
ALERT_ANNOTATION = {
    "name": "Alerts firing",
    "datasource": PROM,
    "enable": True,
    "iconColor": "orange",
    # One region per alert, however many replicas' series fire it.
    "expr": 'max by (alertname, severity) (ALERTS{alertstate="firing", severity!="info"})',
    "step": "15s",
    "titleFormat": "{{alertname}}",
    "tagKeys": "alertname,severity",
}


def explore(datasource: dict[str, str], query: dict[str, Any]) -> str:
    """A URL that opens Explore on `query`, over the dashboard's time range. The query may hold
    data-link variables (`${__field.labels.handler}`): Grafana fills them in, URI-encoded, when
    the link is clicked; everything else is encoded here."""
    panes = {
        "faultline": {
            "datasource": datasource["uid"],
            "queries": [{"refId": "A", "datasource": datasource, **query}],
            "range": {"from": "${__from}", "to": "${__to}"},
        }
    }
    encoded = urllib.parse.quote(json.dumps(panes, separators=(",", ":")), safe="")
    encoded = re.sub(r"%24%7B([\w.]+)%7D", r"${\1}", encoded)  # the variables, left for Grafana
    return f"/explore?schemaVersion=1&orgId=1&panes={encoded}"


def traces(title: str, *conditions: str) -> dict[str, Any]:
    """A data link to the API's traces matching every TraceQL condition (spans of one trace)."""
    query = " && ".join(('resource.service.name = "faultline-api"', *conditions))
    return {
        "title": title,
        "url": explore(
            TEMPO,
            {"queryType": "traceql", "query": f"{{ {query} }}", "limit": 20, "tableType": "traces"},
        ),
    }


def logs(title: str, pipeline: str, *, replica: bool = False) -> dict[str, Any]:
    """A data link to the API's log records (Loki) through a LogQL pipeline: an event's name is
    the record's body; its fields are structured metadata. `replica`: only the clicked series'
    replica's records (Loki indexes the resource's service.instance.id)."""
    stream = 'service_name="faultline-api"'
    if replica:
        stream += ', service_instance_id="${__field.labels.instance}"'
    query = f"{{{stream}}} {pipeline}"
    return {"title": title, "url": explore(LOKI, {"expr": query, "queryType": "range"})}


# Data links shared by several panels. On a per-route series, `method` and `handler` are labels.
ROUTE = (
    "kind = server",
    'span.http.request.method = "${__field.labels.method}"',
    'span.http.route = "${__field.labels.handler}"',
)
ROUTE_TRACES = traces("Traces of ${__field.labels.method} ${__field.labels.handler}", *ROUTE)
FAILED_ROUTE = [
    traces(
        "Failed requests of ${__field.labels.method} ${__field.labels.handler} (traces)",
        *ROUTE,
        "span.http.response.status_code >= 500",
    ),
    logs(
        "Failed requests of ${__field.labels.method} ${__field.labels.handler} (logs)",
        '|= "request" | method="${__field.labels.method}" | route="${__field.labels.handler}" '
        "| status >= 500",
    ),
]
SLOW_ROUTE = traces(
    "Slow requests of ${__field.labels.method} ${__field.labels.handler} (over 250 ms)",
    *ROUTE,
    "duration > 250ms",
)
# On a per-replica series, `instance` (api-2) is the replica's service.instance.id.
ON_REPLICA = 'resource.service.instance.id = "${__field.labels.instance}"'
REPLICA_FAILED = [
    traces(
        "Failed requests on ${__field.labels.instance} (traces)",
        ON_REPLICA,
        "kind = server",
        "span.http.response.status_code >= 500",
    ),
    logs(
        "Failed requests on ${__field.labels.instance} (logs)",
        '|= "request" | status >= 500',
        replica=True,
    ),
]
REPLICA_SLOW = traces(
    "Requests over 250 ms on ${__field.labels.instance} (traces)",
    ON_REPLICA,
    "kind = server",
    "duration > 250ms",
)
FAILED = [
    traces("Failed requests (traces)", "kind = server", "span.http.response.status_code >= 500"),
    logs("Failed requests (logs)", '|= "request" | status >= 500'),
]
SLOW = traces("Requests over 250 ms (traces)", "kind = server", "duration > 250ms")
POOL_TIMEOUTS = [
    traces(
        "Requests that gave up waiting for a connection (traces)",
        'name = "db.client.connection.acquire"',
        "span.faultline.pool.timed_out = true",
    ),
    logs("Pool exhaustion (logs: db.pool_exhausted)", '|= "db.pool_exhausted"'),
]
POOL_WAITS = traces(
    "Requests that waited over 100 ms for a connection (traces)",
    'name = "db.client.connection.acquire"',
    "span.faultline.pool.wait_ms > 100.0",
)
CACHE_ERRORS = [
    traces("Product reads whose cache call failed (traces)", 'span.shop.cache.result = "error"'),
    logs("Cache errors (logs: cache.error)", '|= "cache.error"'),
]
FAULT = [
    traces(
        "Requests under ${__field.labels.fault} (traces)",
        "kind = server",
        "span.faultline.fault.${__field.labels.fault} = true",
    ),
    logs(
        "When ${__field.labels.fault} switched on, on each replica (logs)",
        '|= "fault.on" | fault="${__field.labels.fault}"',
    ),
]


def board_link(uid: str, title: str) -> list[dict[str, Any]]:
    """A panel link to the board that explains it, keeping the time range and the variables."""
    return [
        {"title": f"Open {title}", "url": f"/d/{uid}?${{__url_time_range}}&${{__all_variables}}"}
    ]


class Board:
    """A dashboard, laid out top to bottom: verdicts (stat panels) first, then rows."""

    def __init__(self, uid: str, title: str, description: str) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.panels: list[dict[str, Any]] = []
        self._into = self.panels  # where new panels go: the board, or a collapsed row
        self._ids = 0
        self._x = self._y = 0
        self._row_height = 0

    def _add(self, panel: dict[str, Any]) -> dict[str, Any]:
        self._ids += 1
        panel = {"id": self._ids, **panel}
        self._into.append(panel)
        return panel

    @property
    def _last(self) -> dict[str, Any]:
        return self._into[-1]

    def row(self, title: str, collapsed: bool = False) -> None:
        """A row header; a collapsed row holds the panels that follow until the next row."""
        self._x, self._y = 0, self._y + self._row_height
        self._row_height = 0
        row = self._add(
            {
                "type": "row",
                "title": title,
                "collapsed": collapsed,
                "gridPos": {"x": 0, "y": self._y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        self._y += 1
        self._into = row["panels"] if collapsed else self.panels

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
        thresholds: dict[str, Any] | None = None,
        links: list[dict[str, Any]] | None = None,
        explore: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        """`links`: the panel's own links (to another board); `explore`: data links on every
        series (to its traces or logs in Explore)."""
        defaults: dict[str, Any] = {"unit": unit}
        if thresholds is not None:
            defaults["thresholds"] = thresholds
        if explore:
            defaults["links"] = explore
        if links:
            extra["links"] = links
        self._add(
            {
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
                "fieldConfig": {"defaults": defaults, "overrides": []},
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
        lines: tuple[float, ...] = (),
        ratio: bool = False,
        links: list[dict[str, Any]] | None = None,
        explore: list[dict[str, Any]] | None = None,
    ) -> None:
        """`lines`: threshold lines where a value has a meaning (an SLO, a timeout, a burn rate);
        `ratio`: a share, drawn from 0 to 1; `links`: to the board that explains it; `explore`:
        from a series to its traces or logs."""
        thresholds = None
        if lines:
            thresholds = steps((None, "green"), *((v, "red") for v in lines))
        self.panel(
            "timeseries",
            title,
            description,
            list(targets),
            unit,
            width,
            thresholds=thresholds,
            links=links,
            explore=explore,
        )
        defaults = self._last["fieldConfig"]["defaults"]
        if lines:
            defaults["custom"] = {"thresholdsStyle": {"mode": "line+area"}}
        if ratio:
            defaults.update(min=0, max=1)
        for target in self._last["targets"]:
            target["range"] = True
            if exemplars:
                target["exemplar"] = True

    def stat(
        self,
        title: str,
        description: str,
        *targets: tuple[str, str],
        thresholds: dict[str, Any],
        unit: str = "short",
        width: int = 6,
        names: bool = False,
        none: str = "",
        links: list[dict[str, Any]] | None = None,
        explore: list[dict[str, Any]] | None = None,
    ) -> None:
        """A verdict: coloured by `thresholds` (red when bad), with a sparkline. `names`: one box
        per series, showing its legend (which faults, which alerts), `none` when there is none."""
        self.panel(
            "stat",
            title,
            description,
            list(targets),
            unit,
            width,
            height=5,
            thresholds=thresholds,
            links=links,
            explore=explore,
            options={
                "colorMode": "background",
                "graphMode": "none" if names else "area",
                "textMode": "name" if names else "value",
                "justifyMode": "center",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        )
        defaults = self._last["fieldConfig"]["defaults"]
        defaults["color"] = {"mode": "thresholds"}
        if none:  # nothing to name is the good case: say so, in green
            defaults["noValue"] = none
            defaults["mappings"] = [
                {
                    "type": "special",
                    "options": {"match": "null+nan", "result": {"text": none, "color": "green"}},
                }
            ]

    def heatmap(self, title: str, description: str, expr: str, width: int = 24) -> None:
        """A real latency heatmap: per-bucket counts (`increase` of the `le` series, which Grafana
        turns from cumulative into per-bucket with the heatmap format), exemplars on."""
        self.panel(
            "heatmap",
            title,
            description,
            [(expr, "{{le}}")],
            unit="s",
            width=width,
            height=9,
            options={
                "calculate": False,
                "cellGap": 1,
                "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential"},
                "yAxis": {"unit": "s", "axisPlacement": "left"},
                "rowsFrame": {"layout": "auto"},
                "tooltip": {"mode": "single", "yHistogram": True},
                "exemplars": {"color": "rgba(255,0,255,0.7)"},
                "legend": {"show": True},
            },
        )
        target = self._last["targets"][0]
        target.update(format="heatmap", exemplar=True, range=True)

    def table(self, title: str, description: str, expr: str, legend: str, width: int = 24) -> None:
        """The current value of each series, one row per series (an instant query)."""
        self.panel("table", title, description, [(expr, legend)], width=width, height=5)
        self._last["targets"][0].update(format="table", instant=True)
        self._last["transformations"] = [
            {"id": "organize", "options": {"excludeByName": {"Time": True}}}
        ]

    def logs(self, title: str, description: str, expr: str, width: int = 24) -> None:
        self._add(
            {
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
            "templating": {"list": VARIABLES},
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
        "Which faults are switched on right now, and where they act: one replica (api-2) or all "
        "(from every replica and the control service). Each also shows as a red region on every "
        "graph; the console says with which parameters.",
        ("max by (fault, replica) (fault_scope) == 1", "{{fault}} ({{replica}})"),
        thresholds=steps((None, "red")),
        names=True,
        none="none",
        explore=FAULT,
    )
    b.stat(
        "Alerts firing",
        "Which alerts fire right now (severity page or ticket). Each also shows as an orange "
        "annotation on the graphs. Bad: any.",
        ('max by (alertname) (ALERTS{alertstate="firing", severity!="info"})', "{{alertname}}"),
        thresholds=steps((None, "red")),
        names=True,
        none="none",
    )
    b.stat(
        "Availability (5m)",
        "Share of shop requests that did not fail with 5xx over 5 minutes. "
        "SLO: 99%. Red below 0.99.",
        ("1 - faultline:sli_errors:ratio_rate5m", "availability"),
        thresholds=steps((None, "red"), (0.99, "green")),
        unit="percentunit",
    )
    b.stat(
        "Fast enough (5m)",
        "Share of shop requests served within 250 ms over 5 minutes. SLO: 95%. Red below 0.95.",
        ("1 - faultline:sli_slow:ratio_rate5m", "within 250 ms"),
        thresholds=steps((None, "red"), (0.95, "green")),
        unit="percentunit",
    )
    b.row("Faults on, with their parameters")
    b.table(
        "Fault parameters",
        "The numeric parameters of every fault that is on (routes are in the console). Empty "
        "when no fault is on.",
        "max by (fault, parameter) (fault_parameter) and on (fault) "
        "(max by (fault) (fault_active) == 1)",
        "{{fault}} {{parameter}}",
    )
    b.row("Service levels and traffic")
    b.timeseries(
        "Error-budget burn rate",
        "How fast each SLO's budget is being spent (1 = exactly on budget). Bad: above 14.4 on "
        "both the 1m and 5m lines pages someone; above 6 on the slower pair opens a ticket.",
        ("faultline:sli_errors:ratio_rate1m / 0.01", "availability 1m"),
        ("faultline:sli_errors:ratio_rate5m / 0.01", "availability 5m"),
        ("faultline:sli_slow:ratio_rate1m / 0.05", "latency 1m"),
        ("faultline:sli_slow:ratio_rate5m / 0.05", "latency 5m"),
        lines=(TICKET_BURN, PAGE_BURN),
    )
    b.timeseries(
        "Requests and errors",
        "Shop requests per second, and those that failed. Bad: the 5xx line leaving zero.",
        (f"sum(rate(http_requests_total{{{SHOP_ON}}}[{RATE}]))", "requests/s"),
        (
            f'sum(rate(http_requests_total{{{SHOP_ON}, status="5xx"}}[{RATE}])) or vector(0)',
            "5xx/s",
        ),
        unit="reqps",
        explore=FAILED,
    )
    b.timeseries(
        "p99 latency: client vs server",
        "What shoppers waited (load generator) beside what the API measured. A gap means time "
        "spent outside the handler: a blocked event loop, queueing in the server. The line is "
        "the latency SLO (250 ms).",
        (p99("http_request_duration_seconds", SHOP_ON), "server p99"),
        (p99("loadgen_request_duration_seconds", 'job="loadgen"'), "client p99"),
        unit="s",
        lines=(LATENCY_SLO_S,),
        links=board_link("faultline-api", "API"),
        explore=[SLOW],
    )
    b.row("Drills: how fast the pager was answered")
    for measure, what, orange, red in (
        ("detect", "from the fault switching on to the page", 60, 180),
        ("acknowledge", "from the page to someone acknowledging it", 60, 300),
        ("resolve", "from the page to the alert resolving", 300, 900),
    ):
        b.stat(
            f"Time to {measure} (median)",
            f"Median over the pages in this time range, {what} (the control service's pager). "
            f"Orange from {orange} s, red from {red} s.",
            (
                "histogram_quantile(0.5, sum by (le) "
                f"(increase(incident_time_to_{measure}_seconds_bucket[$__range])))",
                f"time to {measure}",
            ),
            thresholds=steps((None, "green"), (orange, "orange"), (red, "red")),
            unit="s",
            width=8,
            none="no page yet",
        )
    b.row("Where to look next")
    b.timeseries(
        "Connection pool saturation",
        "Share of the pool's connections held by requests. Bad: at 1 (the line): requests "
        "queue for a connection and time out with 503. Waiters: Database & pool.",
        (
            f'sum(db_client_connection_count{{{API}, db_client_connection_state="used"}}) / sum(db_client_connection_max{{{API}}})',
            "used / max",
        ),
        unit="percentunit",
        ratio=True,
        lines=(1.0,),
        links=board_link("faultline-database", "Database & pool"),
        explore=[POOL_WAITS],
    )
    b.timeseries(
        "Event-loop lag (p99)",
        "How late the API's event loop wakes a 100 ms timer. Healthy: a millisecond or two. Bad: "
        "tens of milliseconds or more: something synchronous is blocking every request on that "
        "replica.",
        (p99("asyncio_event_loop_lag_seconds", API, "instance"), "{{instance}}"),
        unit="s",
        lines=(0.1,),
        links=board_link("faultline-runtime", "Runtime"),
    )
    b.timeseries(
        "Cache hit ratio",
        "Share of product reads served from Redis. Bad: a sudden drop (cache outage) moves the "
        "load onto PostgreSQL.",
        (
            f'sum(rate(cache_requests_total{{{API}, result="hit"}}[{RATE}])) / sum(rate(cache_requests_total{{{API}}}[{RATE}]))',
            "hit ratio",
        ),
        unit="percentunit",
        ratio=True,
        links=board_link("faultline-cache", "Cache"),
    )
    return b


def api() -> Board:
    b = Board(
        "faultline-api",
        "Faultline: API",
        "RED per route and method, the latency distribution with exemplars (click a dot to open "
        "its trace), status codes, requests in progress.",
    )
    b.stat(
        "Requests",
        "Requests per second to the selected routes. Red: none at all (no traffic, or the API "
        "is down).",
        (f"sum(rate(http_requests_total{{{ROUTES}}}[{RATE}])) or vector(0)", "requests/s"),
        thresholds=steps((None, "red"), (0.01, "green")),
        unit="reqps",
        width=8,
    )
    b.stat(
        "Error ratio",
        "Share of the selected routes' requests that failed with 5xx. Red from 1% (the "
        "availability SLO's whole budget).",
        (
            f'(sum(rate(http_requests_total{{{ROUTES}, status="5xx"}}[{RATE}])) or vector(0)) '
            f"/ sum(rate(http_requests_total{{{ROUTES}}}[{RATE}]))",
            "5xx share",
        ),
        thresholds=steps((None, "green"), (0.01, "red")),
        unit="percentunit",
        width=8,
        explore=FAILED,
    )
    b.stat(
        "p99",
        "Server-side p99 of the selected routes. Red from 250 ms (the latency SLO).",
        (p99("http_request_duration_seconds", ROUTES), "p99"),
        thresholds=steps((None, "green"), (LATENCY_SLO_S, "red")),
        unit="s",
        width=8,
        explore=[SLOW],
    )
    b.row("RED per route")
    b.timeseries(
        "Requests per route",
        "Requests per second by method and route template.",
        (
            f"sum by (method, handler) (rate(http_requests_total{{{ROUTES}}}[{RATE}]))",
            "{{method}} {{handler}}",
        ),
        unit="reqps",
        explore=[ROUTE_TRACES],
    )
    b.timeseries(
        "Errors per route",
        "5xx per second by method and route. Bad: any route above zero.",
        (
            f'sum by (method, handler) (rate(http_requests_total{{{ROUTES}, status="5xx"}}[{RATE}])) '
            f"or 0 * sum by (method, handler) (rate(http_requests_total{{{ROUTES}}}[{RATE}]))",
            "{{method}} {{handler}}",
        ),
        unit="reqps",
        explore=FAILED_ROUTE,
    )
    b.timeseries(
        "p99 per route",
        "Server-side p99 by method and route (POST /api/v1/orders is checkout). Dots are "
        "exemplars: click one to open that request's trace in Tempo. The line is the latency "
        "SLO (250 ms).",
        (p99("http_request_duration_seconds", ROUTES, "method, handler"), "{{method}} {{handler}}"),
        unit="s",
        exemplars=True,
        lines=(LATENCY_SLO_S,),
        explore=[SLOW_ROUTE],
    )
    b.timeseries(
        "p50 per route",
        "Server-side median by method and route: the typical request, beside the tail.",
        (p50("http_request_duration_seconds", ROUTES, "method, handler"), "{{method}} {{handler}}"),
        unit="s",
        explore=[ROUTE_TRACES],
    )
    b.heatmap(
        "Latency heatmap",
        "How many requests took how long, over time (darker: more). A second band appearing "
        "above the first is a fault in progress; dots are exemplars (click one to open its "
        "trace).",
        f"sum by (le) (increase(http_request_duration_seconds_bucket{{{ROUTES}}}[{RATE}]))",
    )
    b.row("Per replica: what an average hides")
    b.timeseries(
        "Error ratio per replica",
        "Share of each replica's shop requests that failed with 5xx. One bad replica of three "
        "triples its own ratio in this view and shows a third of it in the averages above. The "
        "line is the availability SLO's whole budget (1%).",
        (
            promql.ratio(
                f'rate(http_requests_total{{{ROUTES}, status="5xx"}}[{RATE}])',
                f"rate(http_requests_total{{{ROUTES}}}[{RATE}])",
                "instance",
            ),
            "{{instance}}",
        ),
        unit="percentunit",
        ratio=True,
        lines=(0.01,),
        explore=REPLICA_FAILED,
    )
    b.timeseries(
        "p99 per replica",
        "Server-side p99 of each replica. One slow replica pulls the overall p99 up only as "
        "far as its share of the traffic allows. The line is the latency SLO (250 ms).",
        (p99("http_request_duration_seconds", ROUTES, "instance"), "{{instance}}"),
        unit="s",
        lines=(LATENCY_SLO_S,),
        explore=[REPLICA_SLOW],
    )
    b.row("Detail", collapsed=True)
    b.timeseries(
        "Status codes",
        "Responses per second by status class, every route (health and scrapes included).",
        (f"sum by (status) (rate(http_requests_total{{{API}}}[{RATE}]))", "{{status}}"),
        unit="reqps",
    )
    b.timeseries(
        "In progress",
        "Requests being served right now, per replica. Rising with flat throughput means "
        "requests are stuck (pool, locks, slow queries).",
        (f"sum by (instance) (http_requests_inprogress{{{API}}})", "{{instance}}"),
    )
    b.timeseries(
        "Client-side p99 per journey",
        "What the load generator saw per journey (includes network and server queueing).",
        (p99("loadgen_request_duration_seconds", 'job="loadgen"', "name"), "{{name}}"),
        unit="s",
        lines=(LATENCY_SLO_S,),
    )
    b.logs(
        "Errors and warnings (logs)",
        "The API's warnings and errors (unhandled errors, 5xx, pool exhaustion, fault switches), "
        "with their trace ids (click one to open the trace).",
        '{service_name="faultline-api"} | severity_text=~"WARN|ERROR|FATAL"',
    )
    return b


def database() -> Board:
    b = Board(
        "faultline-database",
        "Faultline: database & pool",
        "The connection pool as the API sees it (client side) beside PostgreSQL's own view "
        "(server side).",
    )
    b.stat(
        "Pool in use",
        "Share of the pool held by requests, on the busiest replica. Red from 90%: soon "
        "requests wait for a connection.",
        (
            f'max(sum by (instance) (db_client_connection_count{{{API}, db_client_connection_state="used"}}) '
            f"/ sum by (instance) (db_client_connection_max{{{API}}}))",
            "used / max",
        ),
        thresholds=steps((None, "green"), (0.7, "orange"), (0.9, "red")),
        unit="percentunit",
        width=8,
    )
    b.stat(
        "Waiting for a connection",
        "Requests queued for a pool connection now, every replica. Red: any.",
        (f"sum(db_client_connection_pending_requests{{{API}}}) or vector(0)", "waiting"),
        thresholds=BAD_ABOVE_ZERO,
        width=8,
        explore=[*POOL_TIMEOUTS, POOL_WAITS],
    )
    b.stat(
        "Acquire timeouts",
        "Requests per second answered 503 because no connection came free in time. Red: any.",
        (
            f"sum(rate(db_client_connection_timeouts_total{{{API}}}[{RATE}])) or vector(0)",
            "timeouts/s",
        ),
        thresholds=ANY_RATE,
        unit="reqps",
        width=8,
        explore=POOL_TIMEOUTS,
    )
    b.row("The pool, from the API")
    b.timeseries(
        "Pool in use per replica",
        "Share of each replica's pool held by requests. Each replica has its own pool: one "
        "replica pinned at 100% while the others idle is a problem of that replica (a leak, a "
        "stuck request), not of the database.",
        (
            f'sum by (instance) (db_client_connection_count{{{API}, db_client_connection_state="used"}}) '
            f"/ sum by (instance) (db_client_connection_max{{{API}}})",
            "{{instance}}",
        ),
        unit="percentunit",
        ratio=True,
        lines=(0.9,),
        explore=[POOL_WAITS],
    )
    b.timeseries(
        "Pool connections",
        "Connections held by requests (used), idle in the pool, and the maximum. Bad: used "
        "pinned at max.",
        (
            f"sum by (db_client_connection_state) (db_client_connection_count{{{API}}})",
            "{{db_client_connection_state}}",
        ),
        (f"sum(db_client_connection_max{{{API}}})", "max"),
    )
    b.timeseries(
        "Waiting for a connection",
        "Requests queued for a pool connection. Healthy: zero. Bad: a standing queue; they time "
        "out after the acquire timeout.",
        (f"sum by (instance) (db_client_connection_pending_requests{{{API}}})", "{{instance}}"),
        explore=[*POOL_TIMEOUTS, POOL_WAITS],
    )
    b.timeseries(
        "Time to get a connection (p99)",
        "How long requests waited for a connection. The line is the acquire timeout (2 s): a "
        "wait that long is answered 503.",
        (p99("db_client_connection_wait_time_seconds", API, "instance"), "{{instance}}"),
        unit="s",
        lines=(ACQUIRE_TIMEOUT_S,),
        explore=[POOL_WAITS],
    )
    b.timeseries(
        "Acquire timeouts",
        "Requests that gave up waiting (answered 503). Bad: any.",
        (
            f"sum by (instance) (rate(db_client_connection_timeouts_total{{{API}}}[{RATE}]))",
            "{{instance}}",
        ),
        unit="reqps",
        explore=POOL_TIMEOUTS,
    )
    b.timeseries(
        "Time a connection is held (p99)",
        "How long requests hold a connection. Rising with slow queries or lock waits.",
        (p99("db_client_connection_use_time_seconds", API, "instance"), "{{instance}}"),
        unit="s",
    )
    b.row("Statements")
    b.timeseries(
        "Statement duration (p99) by query",
        "Per low-cardinality query summary. `fault pg_sleep` is the slow-queries or "
        "lock-contention fault at work.",
        (
            p99("db_client_operation_duration_seconds", API, "db_query_summary"),
            "{{db_query_summary}}",
        ),
        unit="s",
    )
    b.timeseries(
        "Statements per second by query",
        "An N+1 pattern shows as one query's rate jumping while the request rate does not.",
        (
            f"sum by (db_query_summary) (rate(db_client_operation_duration_seconds_count{{{API}}}[{RATE}]))",
            "{{db_query_summary}}",
        ),
        unit="ops",
    )
    b.row("PostgreSQL's own view", collapsed=True)
    b.timeseries(
        "PostgreSQL: connections by state",
        "The server's own view (postgres-exporter): idle in transaction for long is a leak or a "
        "lock holder.",
        ('sum by (state) (pg_stat_activity_count{datname!~"template.*|postgres"})', "{{state}}"),
    )
    b.timeseries(
        "PostgreSQL: locks by mode",
        "Locks held or awaited. RowShare/RowExclusive climbing with order latency is lock "
        "contention.",
        ('sum by (mode) (pg_locks_count{datname!~"template.*|postgres"})', "{{mode}}"),
    )
    b.timeseries(
        "PostgreSQL: transactions",
        "Commits and rollbacks per second.",
        (
            f'sum(rate(pg_stat_database_xact_commit{{datname!~"template.*|postgres"}}[{RATE}]))',
            "commits",
        ),
        (
            f'sum(rate(pg_stat_database_xact_rollback{{datname!~"template.*|postgres"}}[{RATE}]))',
            "rollbacks",
        ),
        unit="ops",
    )
    return b


def runtime() -> Board:
    b = Board(
        "faultline-runtime",
        "Faultline: runtime",
        "The API process per replica: event loop, CPU, memory, garbage collection, file "
        "descriptors.",
    )
    b.stat(
        "Event-loop lag (worst replica)",
        "p99 of how late the event loop runs a 100 ms timer, on the worst replica. Red from "
        "100 ms: something synchronous blocks every request there.",
        (f"max({p99('asyncio_event_loop_lag_seconds', API, 'instance')})", "p99"),
        thresholds=steps((None, "green"), (0.025, "orange"), (0.1, "red")),
        unit="s",
        width=8,
    )
    b.stat(
        "CPU (busiest replica)",
        "Cores busy on the busiest replica (1 = one core). Red from 0.9: it is saturated.",
        (f"max(sum by (instance) (rate(process_cpu_seconds_total{{{API}}}[{RATE}])))", "cores"),
        thresholds=steps((None, "green"), (0.7, "orange"), (0.9, "red")),
        width=8,
    )
    b.stat(
        "Memory growth",
        "How fast the fastest-growing replica's resident memory grows, over 5 minutes. Red from "
        "0.5 MB/s: a leak, not a warm-up.",
        (f"max(deriv(process_resident_memory_bytes{{{API}}}[5m]))", "growth"),
        thresholds=steps((None, "green"), (500_000, "red")),
        unit="Bps",
        width=8,
    )
    b.row("Per replica")
    b.timeseries(
        "Event-loop lag",
        "p50 and p99 of how late the loop runs a 100 ms timer. Bad: p99 over 100 ms (the line): "
        "synchronous work blocks every request on that replica.",
        (p99("asyncio_event_loop_lag_seconds", API, "instance"), "p99 {{instance}}"),
        (p50("asyncio_event_loop_lag_seconds", API, "instance"), "p50 {{instance}}"),
        unit="s",
        width=24,
        lines=(0.1,),
    )
    b.timeseries(
        "CPU",
        "Cores busy per replica (1 = one core). Bad: pinned at 1 (the line): the replica is "
        "saturated, and everything on it waits.",
        (f"sum by (instance) (rate(process_cpu_seconds_total{{{API}}}[{RATE}]))", "{{instance}}"),
        unit="short",
        lines=(1.0,),
    )
    b.timeseries(
        "Resident memory",
        "RSS per replica. Bad: a line that only goes up (memory leak).",
        (f"sum by (instance) (process_resident_memory_bytes{{{API}}})", "{{instance}}"),
        unit="bytes",
    )
    b.row("Detail", collapsed=True)
    b.timeseries(
        "Garbage collections",
        "Garbage collections per second by generation. Gen 2 climbing with memory is churn.",
        (
            f"sum by (generation) (rate(python_gc_collections_total{{{API}}}[{RATE}]))",
            "gen {{generation}}",
        ),
        unit="ops",
    )
    b.timeseries(
        "Open file descriptors",
        "Sockets and files the process holds open. Bad: climbing steadily (a connection leak).",
        (f"sum by (instance) (process_open_fds{{{API}}})", "{{instance}}"),
    )
    return b


def cache() -> Board:
    b = Board(
        "faultline-cache",
        "Faultline: cache",
        "The product cache from the API's side, and Redis's own view.",
    )
    b.stat(
        "Hit ratio",
        "Share of product lookups served from Redis. Red below 50%: most reads go to PostgreSQL.",
        (
            f'sum(rate(cache_requests_total{{{API}, result="hit"}}[{RATE}])) / sum(rate(cache_requests_total{{{API}}}[{RATE}]))',
            "hit ratio",
        ),
        thresholds=steps((None, "red"), (0.5, "orange"), (0.8, "green")),
        unit="percentunit",
        width=12,
    )
    b.stat(
        "Cache errors",
        "Cache calls per second that failed (Redis unreachable or slow). Red: any.",
        (
            f'sum(rate(cache_requests_total{{{API}, result="error"}}[{RATE}])) or vector(0)',
            "errors/s",
        ),
        thresholds=ANY_RATE,
        unit="ops",
        width=12,
        explore=CACHE_ERRORS,
    )
    b.row("The cache, from the API")
    b.timeseries(
        "Lookups by result",
        "Cache lookups per second: hits, misses, errors. Bad: errors (Redis unreachable); reads "
        "then fall back to PostgreSQL.",
        (f"sum by (result) (rate(cache_requests_total{{{API}}}[{RATE}]))", "{{result}}"),
        unit="ops",
        explore=CACHE_ERRORS,
    )
    b.timeseries(
        "Hit ratio over time",
        "Share of lookups served from Redis.",
        (
            f'sum(rate(cache_requests_total{{{API}, result="hit"}}[{RATE}])) / sum(rate(cache_requests_total{{{API}}}[{RATE}]))',
            "hit ratio",
        ),
        unit="percentunit",
        ratio=True,
    )
    b.timeseries(
        "Cache call latency (p99)",
        "Per operation, failed calls included.",
        (p99("cache_operation_duration_seconds", API, "operation"), "{{operation}}"),
        unit="s",
    )
    b.row("Redis's own view", collapsed=True)
    b.timeseries(
        "Redis: commands per second",
        "Redis's own view (redis-exporter).",
        (f"sum(rate(redis_commands_processed_total[{RATE}]))", "commands/s"),
        unit="ops",
    )
    b.timeseries(
        "Redis: connected clients",
        "Client connections Redis holds (every replica's pools).",
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
        (f"sum(rate(redis_keyspace_hits_total[{RATE}]))", "hits/s"),
        (f"sum(rate(redis_keyspace_misses_total[{RATE}]))", "misses/s"),
        unit="ops",
    )
    return b


def pipeline() -> Board:
    b = Board(
        "faultline-pipeline",
        "Faultline: telemetry pipeline",
        "The OpenTelemetry collector watching itself: what it accepted, refused, exported and "
        "failed to export.",
    )
    for signal, unit in (("spans", "Spans"), ("log_records", "Log records")):
        b.stat(
            f"{unit} lost",
            f"{unit} per second the collector refused or failed to export. Red: any: telemetry "
            "is being lost.",
            (
                f"(sum(rate(otelcol_receiver_refused_{signal}_total[{RATE}])) or vector(0)) "
                f"+ (sum(rate(otelcol_exporter_send_failed_{signal}_total[{RATE}])) or vector(0))",
                "lost/s",
            ),
            thresholds=ANY_RATE,
            unit="ops",
            width=12,
        )
    b.row("The collector")
    for signal, unit in (("spans", "spans"), ("log_records", "log records")):
        b.timeseries(
            f"Collector {unit}",
            f"{unit.capitalize()} per second in and out. Bad: refused or failed above zero: "
            "telemetry is being lost.",
            (f"sum(rate(otelcol_receiver_accepted_{signal}_total[{RATE}]))", "accepted"),
            (f"sum(rate(otelcol_receiver_refused_{signal}_total[{RATE}])) or vector(0)", "refused"),
            (f"sum(rate(otelcol_exporter_sent_{signal}_total[{RATE}]))", "sent"),
            (
                f"sum(rate(otelcol_exporter_send_failed_{signal}_total[{RATE}])) or vector(0)",
                "failed",
            ),
            unit="ops",
        )
    b.timeseries(
        "Exporter queues",
        "Queue fill per exporter. Bad: at capacity (data is dropped).",
        ("sum by (exporter) (otelcol_exporter_queue_size)", "size {{exporter}}"),
        ("sum by (exporter) (otelcol_exporter_queue_capacity)", "capacity {{exporter}}"),
    )
    b.row("Tempo", collapsed=True)
    b.timeseries(
        "Spans per service (Tempo span metrics)",
        "Spans Tempo's metrics generator saw: sampled traces only (OTEL_TRACES_SAMPLER_ARG; the "
        "lab traces every request, the API's own default is one in ten).",
        (f"sum by (service) (rate(traces_spanmetrics_calls_total[{RATE}]))", "{{service}}"),
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
            "keepTime": True,
            "includeVars": True,
        }
        for b in boards
    ]
    return {f"{b.uid}.json": json.dumps(b.json(links), indent=2) + "\n" for b in boards}


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
    print(f"wrote {len(BOARDS)} dashboards to {OUT}")
