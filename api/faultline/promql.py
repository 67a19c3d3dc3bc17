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


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    unit: str  # "reqps" | "ratio" | "s" | "count"
    series: tuple[tuple[str, str], ...]  # (legend, PromQL)
    dashboard: str  # Grafana dashboard uid with the full story


CHARTS: tuple[Chart, ...] = (
    Chart(
        "requests",
        "Request rate",
        "reqps",
        (("requests/s", f"sum(rate(http_requests_total{{{SHOP}}}[1m]))"),),
        "faultline-api",
    ),
    Chart(
        "errors",
        "Error ratio (5xx)",
        "ratio",
        (
            (
                "5xx share",
                f'(sum(rate(http_requests_total{{{SHOP}, status="5xx"}}[1m])) or vector(0)) / sum(rate(http_requests_total{{{SHOP}}}[1m]))',
            ),
        ),
        "faultline-overview",
    ),
    Chart(
        "latency",
        "p99 latency: server vs client",
        "s",
        (
            ("server", p99("http_request_duration_seconds", SHOP)),
            ("client", p99("loadgen_request_duration_seconds", 'job="loadgen"')),
        ),
        "faultline-api",
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
    ),
    Chart(
        "loop",
        "Event-loop lag p99",
        "s",
        (("p99 lag", p99("asyncio_event_loop_lag_seconds", 'job="api"')),),
        "faultline-runtime",
    ),
    Chart(
        "cache",
        "Cache hit ratio",
        "ratio",
        (
            (
                "hits",
                'sum(rate(cache_requests_total{job="api", result="hit"}[1m])) / sum(rate(cache_requests_total{job="api"}[1m]))',
            ),
        ),
        "faultline-cache",
    ),
    Chart(
        "memory",
        "Resident memory, largest replica (MiB)",
        "count",
        (("MiB", 'max(process_resident_memory_bytes{job="api"}) / 1048576'),),
        "faultline-runtime",
    ),
)

FAULT_MARKS = "max by (fault) (fault_active)"
