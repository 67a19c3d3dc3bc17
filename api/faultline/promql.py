"""The lab's key signals as named PromQL queries: one definition, read by the console's live charts
(and linked to the Grafana dashboard that shows the same thing)."""

from __future__ import annotations

from dataclasses import dataclass

SHOP = 'job="api", handler=~"/api/.*"'


def quantile(q: float, metric: str, selector: str, by: str = "", window: str = "1m") -> str:
    """The q-quantile of a histogram over `window`, optionally per label `by`."""
    group = f"{by}, le" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[{window}])))"
    )


def p99(metric: str, selector: str, by: str = "", window: str = "1m") -> str:
    return quantile(0.99, metric, selector, by, window)


def ratio(part: str, whole: str, by: str = "") -> str:
    """sum(part) / sum(whole), optionally per label `by`; 0 (not absent) where part has no series."""
    group = f" by ({by})" if by else ""
    absent = f"0 * sum{group} ({whole})" if by else "vector(0)"
    return f"(sum{group} ({part}) or {absent}) / sum{group} ({whole})"


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    unit: str  # "reqps" | "ratio" | "s" | "count"
    series: tuple[tuple[str, str], ...]  # (legend, PromQL) for the lab as a whole
    dashboard: str  # Grafana dashboard uid with the full story
    # The same per API replica (PromQL `by (instance)`: one line each, the legend then the
    # replica), for the console's "per replica" view, where an average would hide one bad
    # replica. A series that has no replica (what the load generator saw) stays as it is.
    per_replica: tuple[tuple[str, str], ...] = ()


_ALL = f"rate(http_requests_total{{{SHOP}}}[1m])"
_5XX = f'rate(http_requests_total{{{SHOP}, status="5xx"}}[1m])'
_CACHE_HIT = 'rate(cache_requests_total{job="api", result="hit"}[1m])'
_CACHE_ALL = 'rate(cache_requests_total{job="api"}[1m])'
_CLIENT_P99 = ("client", p99("loadgen_request_duration_seconds", 'job="loadgen"'))

CHARTS: tuple[Chart, ...] = (
    Chart(
        "requests",
        "Request rate",
        "reqps",
        (("requests/s", f"sum({_ALL})"),),
        "faultline-api",
        (("", f"sum by (instance) ({_ALL})"),),
    ),
    Chart(
        "errors",
        "Error ratio (5xx)",
        "ratio",
        (("5xx share", ratio(_5XX, _ALL)),),
        "faultline-overview",
        (("", ratio(_5XX, _ALL, "instance")),),
    ),
    Chart(
        "latency",
        "p99 latency: server vs client",
        "s",
        (("server", p99("http_request_duration_seconds", SHOP)), _CLIENT_P99),
        "faultline-api",
        (("server", p99("http_request_duration_seconds", SHOP, "instance")), _CLIENT_P99),
    ),
    Chart(
        "pool",
        "Connection pool",
        "count",
        (
            (
                "used",
                'sum(db_client_connection_count{job="api", db_client_connection_state="used"})',
            ),
            ("max", 'sum(db_client_connection_max{job="api"})'),
            ("waiting", 'sum(db_client_connection_pending_requests{job="api"})'),
        ),
        "faultline-database",
        (
            (
                "used",
                "sum by (instance) "
                '(db_client_connection_count{job="api", db_client_connection_state="used"})',
            ),
            ("waiting", 'sum by (instance) (db_client_connection_pending_requests{job="api"})'),
        ),
    ),
    Chart(
        "loop",
        "Event-loop lag p99",
        "s",
        (("p99 lag", p99("asyncio_event_loop_lag_seconds", 'job="api"')),),
        "faultline-runtime",
        (("", p99("asyncio_event_loop_lag_seconds", 'job="api"', "instance")),),
    ),
    Chart(
        "cache",
        "Cache hit ratio",
        "ratio",
        (("hits", f"sum({_CACHE_HIT}) / sum({_CACHE_ALL})"),),
        "faultline-cache",
        (("", f"sum by (instance) ({_CACHE_HIT}) / sum by (instance) ({_CACHE_ALL})"),),
    ),
    Chart(
        "memory",
        "Resident memory, largest replica (MiB)",
        "count",
        (("MiB", 'max(process_resident_memory_bytes{job="api"}) / 1048576'),),
        "faultline-runtime",
        (("", 'sum by (instance) (process_resident_memory_bytes{job="api"}) / 1048576'),),
    ),
)

# When each fault was on, and where it acts (replica="api-2", or "all").
FAULT_MARKS = "max by (fault, replica) (fault_scope)"
# The API replicas Prometheus scrapes, named as it labels them (instance="api-2").
REPLICAS = 'up{job="api"}'
