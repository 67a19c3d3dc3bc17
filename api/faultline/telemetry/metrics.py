"""Every Prometheus metric the API exposes, defined once, on the default registry (which also
carries the process and GC collectors). Dashboards, alerts and the signal contract read these
names, so they are part of the API's contract.

One naming convention, by family:
- HTTP RED: prometheus-fastapi-instrumentator's names and labels (`http_requests_total`,
  `http_request_duration_seconds`, `http_requests_inprogress`; `handler`, `method`, `status`),
  the ones FastAPI users know. That library cannot attach exemplars, so the API records them
  itself (faultline.telemetry.http).
- Database client and pool: the OpenTelemetry semantic conventions' names *and* attributes, as an
  OpenTelemetry-to-Prometheus translation writes them (dots to underscores, the unit as a suffix,
  `_total` on counters): `db_client_connection_count{db_client_connection_pool_name,
  db_client_connection_state}`, `db_client_operation_duration_seconds{db_operation_name,
  db_query_summary}`.
- The rest (cache, event loop, shop, faults): Prometheus's own naming practice.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# 5 ms resolution at the bottom, 10 s at the top: a healthy read and a stuck pool both land in
# a bucket of their own.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
FAST_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# --- HTTP (RED), recorded by faultline.telemetry.http.record_request ---------------------------
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by route template, method and status class",
    ["handler", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Server-side HTTP request duration; exemplars carry the trace id of sampled requests",
    ["handler", "method"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("http_requests_inprogress", "Number of HTTP requests in progress")

# --- Database connection pool, client side (OTel db.client.connection.*) -------------------------
POOL_LABELS = ["db_client_connection_pool_name"]  # db.client.connection.pool.name
DB_CONNECTION_COUNT = Gauge(
    "db_client_connection_count",
    "Pool connections by state (used = held by a request)",
    ["db_client_connection_pool_name", "db_client_connection_state"],
)
DB_CONNECTION_MAX = Gauge(
    "db_client_connection_max", "Most connections the pool may open", POOL_LABELS
)
DB_CONNECTION_PENDING = Gauge(
    "db_client_connection_pending_requests", "Requests waiting for a pool connection", POOL_LABELS
)
DB_CONNECTION_WAIT = Histogram(
    "db_client_connection_wait_time_seconds",
    "Time to acquire a pool connection",
    POOL_LABELS,
    buckets=FAST_BUCKETS,
)
DB_CONNECTION_USE = Histogram(
    "db_client_connection_use_time_seconds",
    "Time a connection was held before release",
    POOL_LABELS,
    buckets=FAST_BUCKETS,
)
DB_CONNECTION_TIMEOUTS = Counter(
    "db_client_connection_timeouts",
    "Acquisitions that gave up after the acquire timeout (answered 503)",
    POOL_LABELS,
)
DB_OPERATION_DURATION = Histogram(
    "db_client_operation_duration_seconds",
    "Duration of database statements, by SQL operation and low-cardinality query name",
    ["db_operation_name", "db_query_summary"],
    buckets=FAST_BUCKETS,
)

# --- Cache ---------------------------------------------------------------------------------------
CACHE_REQUESTS = Counter("cache_requests", "Product cache lookups by result", ["result"])
CACHE_DURATION = Histogram(
    "cache_operation_duration_seconds",
    "Duration of cache calls (including failed ones)",
    ["operation"],
    buckets=FAST_BUCKETS,
)

# --- Runtime -----------------------------------------------------------------------------------
EVENT_LOOP_LAG = Histogram(
    "asyncio_event_loop_lag_seconds",
    "How late the event loop woke a sampler that asked to sleep a fixed interval",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# --- Business ------------------------------------------------------------------------------------
ORDERS_CREATED = Counter("shop_orders_created", "Orders placed (replays not counted)")
ORDER_VALUE = Histogram(
    "shop_order_value",
    "Order totals in the shop's currency",
    buckets=(5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
STOCKOUTS = Counter("shop_stockouts", "Orders refused because an item was out of stock")

# --- Faults (one series per catalogue entry, so dashboards can draw them as annotations) --------
FAULT_ACTIVE = Gauge(
    "fault_active",
    "1 while the fault acts in this process (an API replica), or is on anywhere (control service)",
    ["fault"],
)
FAULT_SCOPE = Gauge(
    "fault_scope",
    'Each fault on in the lab, by where it acts: replica="api-2", or replica="all"',
    ["fault", "replica"],
)
FAULT_PARAMETER = Gauge(
    "fault_parameter", "Numeric parameters of active faults", ["fault", "parameter"]
)
FAULT_STORE_INVALID = Gauge(
    "fault_store_invalid_entries",
    "Fault store entries this process read and refused (bad JSON, shape or bounds); treated as off",
)
FAILED_AUTHS = Counter(
    "control_failed_authentications",
    "Fault changes refused for a missing or wrong token (outcome: unauthorized or rate_limited)",
    ["outcome"],
)
FAULT_CHANGES = Counter(
    "fault_changes", "Fault changes made through the control service", ["fault", "action"]
)

# The pager's response times across drills (the control service): from the fault switching on
# to the page, from the page to its acknowledgement, from the page to the alert resolving. By
# severity only; the pager (faultline.control.incidents) starts each at zero.
_RESPONSE_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600)
INCIDENT_TIME_TO_DETECT = Histogram(
    "incident_time_to_detect_seconds",
    "From the fault switching on to the page (incidents paged while a fault was on)",
    ["severity"],
    buckets=_RESPONSE_BUCKETS,
)
INCIDENT_TIME_TO_ACKNOWLEDGE = Histogram(
    "incident_time_to_acknowledge_seconds",
    "From the page to its acknowledgement",
    ["severity"],
    buckets=_RESPONSE_BUCKETS,
)
INCIDENT_TIME_TO_RESOLVE = Histogram(
    "incident_time_to_resolve_seconds",
    "From the page to the alert resolving",
    ["severity"],
    buckets=_RESPONSE_BUCKETS,
)
