"""Settings: everything that varies by environment, with safe defaults, validated at startup.

Read once through `get_settings()` (cached), from environment variables only. The repository's
`.env` is compose's variable file, not the app's: compose passes the API what it needs, and a
process started from the repository root must not pick up the lab's settings by accident (the
benchmark did: it measured with the lab's sampling ratio). Tests build their own `Settings(...)`
and hand it to `create_app()` instead of patching globals.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, RedisDsn, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    service_name: str = "faultline-api"

    # PostgreSQL. The pool is the thing the lab exhausts, so its size is deliberately small.
    database_url: str = "postgres://faultline@localhost:5432/faultline"  # password: PGPASSWORD
    db_pool_min_size: int = Field(default=2, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=200)
    # How long a request may wait for a free pool connection before it gets a 503.
    # Tortoise itself waits forever; see faultline.db.pool.
    db_acquire_timeout_seconds: PositiveFloat = 2.0
    db_connect_timeout_seconds: PositiveFloat = 2.0
    # Upper bound on any single statement, so that nothing can hang a request forever.
    db_statement_timeout_seconds: PositiveFloat = 30.0
    # Waits for a pool connection longer than this appear as a span in the request's trace.
    db_pool_wait_span_threshold_seconds: float = Field(default=0.005, ge=0)

    # Redis: the product cache. Short timeouts: a dead cache must cost milliseconds, not seconds.
    redis_url: RedisDsn = RedisDsn("redis://localhost:6379/0")
    redis_timeout_seconds: PositiveFloat = 0.25
    # Bounded, but sized for what one process has in flight at capacity: with 16, a saturated
    # event loop held connections long enough that up to a fifth of cache reads timed out
    # waiting for one and fell back to PostgreSQL (`make bench`, "cache errs"), a false
    # CacheErrors signal with no fault on. The soak sees about 21 in use at 30 shoppers.
    redis_max_connections: int = Field(default=64, ge=2, le=1000)
    cache_ttl_seconds: PositiveInt = 60

    # HTTP limits (page-size bounds are part of the API contract: see faultline.schemas).
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # Graceful shutdown (faultline.shutdown): on SIGTERM, readiness says "draining" this long
    # while requests are still served, then in-flight requests get up to the timeout to finish.
    # Their sum must stay under the orchestrator's grace period (compose: stop_grace_period).
    shutdown_drain_seconds: float = Field(default=2.0, ge=0, le=60)
    shutdown_timeout_seconds: float = Field(default=10.0, ge=1, le=120)

    # Catalogue upkeep: every interval, products below the low-water mark are restocked, so hours
    # of steady load never run the shop dry. 0 turns it off (tests that count stock do).
    stock_replenish_interval_seconds: float = Field(default=15.0, ge=0)
    stock_low_water_mark: int = Field(default=20, ge=0)
    stock_restock_level: int = Field(default=500, ge=1)

    # Telemetry. Traces and OTLP logs are configured by the standard OTEL_* variables, read by
    # the OpenTelemetry SDK itself (faultline.telemetry.otel lists the API's defaults);
    # OTEL_SDK_DISABLED=true turns both off, and the instrumentations with them.
    otel_sdk_disabled: bool = False
    # Prometheus /metrics and per-request RED metrics (false only for benchmarking bare).
    metrics_enabled: bool = True
    event_loop_lag_interval_seconds: float = Field(default=0.1, ge=0)
    # The garbage collector (faultline.gc_tuning says why and what it measured): freeze what
    # start-up built, and collect generation 0 every GC_GEN0_THRESHOLD allocations (CPython: 700).
    gc_freeze_after_startup: bool = True
    gc_gen0_threshold: int = Field(default=20_000, ge=100, le=1_000_000)
    # Log format: JSON lines unless on a terminal; LOG_JSON forces either way.
    log_json: bool | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # JSON lines: info lines are written out in batches at this interval, warnings and errors at
    # once (faultline.telemetry.logs.LineWriter); 0 writes every line at once.
    log_flush_interval_seconds: float = Field(default=0.1, ge=0, le=5)

    # Faults: how often replicas re-read the fault store (pub/sub wakes them sooner), and how long
    # the store may be unreachable before every fault switches off here (fail safe).
    fault_sync_interval_seconds: float = Field(default=1.0, gt=0, le=10)
    fault_store_grace_seconds: float = Field(default=5.0, gt=0, le=300)

    # Which API replica this process is, named as Prometheus labels it (instance="api-2"): a
    # fault can be scoped to one replica, and the replica's traces and logs carry the name
    # (service.instance.id). The native lab sets REPLICA_NAME. Compose cannot (one service,
    # scaled: every replica gets the same environment), so there each replica finds its own name
    # through Docker's DNS: REPLICA_DNS_NAME is the container-name pattern prometheus.yml lists,
    # with {n} for the replica's number (faultline.replica). Neither: hostname:pid, unscoped.
    replica_name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    replica_dns_name: str | None = Field(default=None, pattern=r"^[a-z0-9-]*\{n\}[a-z0-9-]*$")

    # Control service: bearer token for writes (unset or empty = writes refused), and where it
    # listens.
    faultline_admin_token: SecretStr | None = None
    control_port: int = Field(default=8080, ge=1, le=65535)
    # The pager: Alertmanager's webhook needs this bearer token (unset or empty = refused), and
    # incidents are kept in this file (unset = the pager is off).
    alert_webhook_token: SecretStr | None = None
    incidents_path: Path | None = None
    # Failed authentications (wrong or missing token) per client address, over a moving window
    # ("<n>/<second|minute|hour>"); past it, that client gets 429. A right token always passes,
    # so that nobody can lock a facilitator out of heal.
    control_failed_auth_limit: str = Field(
        default="10/minute", pattern=r"^\d+ ?/ ?(second|minute|hour)$"
    )
    # Addresses (or CIDRs, or "*") of the proxies whose X-Forwarded-For is believed; uvicorn's own
    # variable. Empty (the default): none, the client address is the connection's. Compose sets
    # it for the API, which only its proxy can reach.
    forwarded_allow_ips: str = ""
    # Where the services are reachable from (compose's published BIND_ADDRESS; unset: the address
    # they listen on). The control service refuses a demo token beyond loopback
    # (faultline.exposure).
    bind_address: str | None = None
    # Browser origins allowed to call the API and the control service (CORS), comma-separated,
    # e.g. "http://localhost:3000". Empty (the default): no cross-origin access at all.
    cors_allow_origins: str = ""
    # Where the console's live charts read from, and (compose) the Grafana their titles link to.
    prometheus_url: str | None = None
    grafana_url: str | None = None

    @field_validator("faultline_admin_token", "alert_webhook_token", mode="before")
    @classmethod
    def _empty_token_is_no_token(cls, value: object) -> object:
        """`FAULTLINE_ADMIN_TOKEN=` must refuse writes, not accept a bare `Bearer`."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("DATABASE_URL must be a postgres:// URL (asyncpg)")
        return value

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.cors_allow_origins.split(",") if o.strip()]

    @property
    def docs_enabled(self) -> bool:
        return self.environment != "production"


@lru_cache
def get_settings() -> Settings:
    return Settings()
