"""The fault catalogue: the one source of truth for what can be broken and how.

Each fault has a name, a one-line description, its parameters as a pydantic model (types,
defaults, bounds: the control API validates with it and the console builds its form from its JSON
schema), whether it targets routes, and the metrics it is expected to move. Docs, tests, the
console and the signal contract read this module; nothing repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from faultline.json_types import JsonInt

# Shop routes a fault can target (templates, as metrics and traces label them).
ShopRoute = Literal[
    "/api/v1/products",
    "/api/v1/products/{product_id}",
    "/api/v1/orders",
    "/api/v1/orders/{order_id}",
]
SHOP_ROUTES: tuple[str, ...] = ShopRoute.__args__  # type: ignore[attr-defined]

DEFAULT_TTL_SECONDS = 15 * 60
MAX_TTL_SECONDS = 2 * 60 * 60


class FaultParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no "1" or true for 1


class RoutedParams(FaultParams):
    routes: list[ShopRoute] = Field(
        default_factory=list,
        max_length=len(SHOP_ROUTES),
        description="Route templates to affect; empty means every shop route",
    )
    probability: float = Field(1.0, ge=0, le=1, description="Share of matching requests affected")


class LatencyParams(RoutedParams):
    delay_ms: JsonInt = Field(300, ge=0, le=10_000, description="Fixed delay added to each request")
    jitter_ms: JsonInt = Field(200, ge=0, le=10_000, description="Up to this much more, at random")


class ErrorParams(RoutedParams):
    probability: float = Field(0.1, ge=0, le=1, description="Share of requests that fail with 500")


class SlowQueryParams(FaultParams):
    delay_ms: JsonInt = Field(
        150, ge=1, le=5_000, description="pg_sleep run before every statement, on its connection"
    )


class PoolExhaustionParams(RoutedParams):
    probability: float = Field(
        1.0, ge=0, le=1, description="Chance that a request leaks one extra pool connection"
    )
    max_leaked: JsonInt = Field(
        100, ge=1, le=200, description="Stop leaking after this many (capped by the pool size)"
    )


class NPlusOneParams(FaultParams):
    pass


class CacheOutageParams(FaultParams):
    failure_delay_ms: JsonInt = Field(
        0, ge=0, le=2_000, description="How long each failing cache call takes (0: refused at once)"
    )


class EventLoopBlockParams(RoutedParams):
    block_ms: JsonInt = Field(
        200, ge=1, le=5_000, description="Synchronous work per affected request"
    )
    probability: float = Field(0.2, ge=0, le=1, description="Share of requests that block the loop")


# The most memory_leak may retain. Compose gives an API replica 512 MiB and it uses ~100 MiB
# under load (docs/reliability.md, soak): 320 leaves room, so the leak shows on the dashboards
# instead of the replica being OOM-killed in a loop. The API caps it lower where its own memory
# limit (cgroup, else the machine's available memory) is smaller (faults.effects.MemoryHoard).
MEMORY_LEAK_MAX_MB = 320


class MemoryLeakParams(RoutedParams):
    kb_per_request: JsonInt = Field(256, ge=4, le=8_192, description="Memory retained per request")
    max_mb: JsonInt = Field(
        192, ge=1, le=MEMORY_LEAK_MAX_MB, description="Stop retaining beyond this much"
    )


class LockContentionParams(FaultParams):
    hold_ms: JsonInt = Field(
        250, ge=1, le=5_000, description="How long each order holds the hot lock"
    )
    hot_product_id: JsonInt = Field(
        1, ge=1, le=2**31 - 1, description="Row every order locks first"
    )


@dataclass(frozen=True)
class FaultSpec:
    name: str
    description: str
    params: type[FaultParams]
    signals: tuple[str, ...]

    @property
    def targets_routes(self) -> bool:
        return issubclass(self.params, RoutedParams)


CATALOGUE: dict[str, FaultSpec] = {
    spec.name: spec
    for spec in (
        FaultSpec(
            "latency",
            "Adds a delay (fixed + jitter) to requests on chosen routes",
            LatencyParams,
            ("http_request_duration_seconds",),
        ),
        FaultSpec(
            "errors",
            "Raises an exception inside the handler: HTTP 500, recorded on the trace",
            ErrorParams,
            ("http_requests_total",),
        ),
        FaultSpec(
            "slow_queries",
            "Every statement first waits inside PostgreSQL (pg_sleep), holding its connection",
            SlowQueryParams,
            (
                "db_client_operation_duration_seconds",
                "db_client_connection_use_time_seconds",
                "http_request_duration_seconds",
            ),
        ),
        FaultSpec(
            "pool_exhaustion",
            "Requests leak pool connections until none is left; queries then time out",
            PoolExhaustionParams,
            (
                "db_client_connection_count",
                "db_client_connection_pending_requests",
                "db_client_connection_wait_time_seconds",
                "db_client_connection_timeouts_total",
                "http_requests_total",
            ),
        ),
        FaultSpec(
            "n_plus_one",
            "Order listing loads items one query at a time (N+1)",
            NPlusOneParams,
            ("db_client_operation_duration_seconds", "http_request_duration_seconds"),
        ),
        FaultSpec(
            "cache_outage",
            "Every cache call fails as if Redis were unreachable; reads fall back to PostgreSQL",
            CacheOutageParams,
            ("cache_requests_total", "db_client_operation_duration_seconds"),
        ),
        FaultSpec(
            "event_loop_block",
            "Synchronous work inside async handlers blocks the event loop",
            EventLoopBlockParams,
            ("asyncio_event_loop_lag_seconds", "http_request_duration_seconds"),
        ),
        FaultSpec(
            "memory_leak",
            "Each request retains memory; turning the fault off frees it",
            MemoryLeakParams,
            ("process_resident_memory_bytes",),
        ),
        FaultSpec(
            "lock_contention",
            "Order placement takes one hot row lock and holds it",
            LockContentionParams,
            (
                "http_request_duration_seconds",
                "db_client_connection_use_time_seconds",
                "db_client_connection_pending_requests",
            ),
        ),
    )
}
