"""The shop API: `create_app()` builds it; `faultline serve` runs it under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from tortoise.contrib.fastapi import RegisterTortoise

from faultline import __version__, hooks
from faultline.cache import ProductCache, create_redis
from faultline.config import Settings, get_settings
from faultline.db.config import tortoise_config
from faultline.errors import install_error_handlers
from faultline.faults.runtime import RUNTIME as FAULTS
from faultline.faults.runtime import STORE_CONNECTIONS as FAULT_STORE_CONNECTIONS
from faultline.gc_tuning import tune_garbage_collector
from faultline.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    UnhandledErrorMiddleware,
    add_cors,
)
from faultline.replica import replica_name
from faultline.routes import health, orders, products
from faultline.services.health import HealthService
from faultline.services.stock import StockKeeper
from faultline.telemetry.http import router as metrics_router
from faultline.telemetry.logs import configure_logging, flush_logs
from faultline.telemetry.loop_lag import LoopLagMonitor
from faultline.telemetry.otel import start_telemetry

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        telemetry = start_telemetry(settings)
        configure_logging(settings, export_otlp=telemetry.logs_exported)
        loop_lag = LoopLagMonitor(settings.event_loop_lag_interval_seconds)
        loop_lag.start()
        async with RegisterTortoise(app, config=tortoise_config(settings)):
            redis = create_redis(settings)
            cache = ProductCache(redis, settings.cache_ttl_seconds)
            keeper = StockKeeper(
                cache,
                settings.stock_replenish_interval_seconds,
                settings.stock_low_water_mark,
                settings.stock_restock_level,
            )
            app.state.redis = redis
            app.state.cache = cache
            # One per process: it bounds readiness checks (faultline.services.health).
            app.state.health = HealthService(settings.database_url, redis, settings.service_name)
            keeper.start()
            hooks.install(FAULTS)  # the faults act through the seams (faultline.hooks)
            # Its own connections: shop traffic filling the cache's pool must not cut the fault
            # runtime off from the store (see faultline.faults.runtime).
            fault_redis = create_redis(settings, max_connections=FAULT_STORE_CONNECTIONS)
            await FAULTS.start(
                fault_redis,
                settings.fault_sync_interval_seconds,
                settings.fault_store_grace_seconds,
                effects=True,
                replica=replica_name(settings),
            )
            # Last: everything start-up built is in place to be frozen.
            frozen = tune_garbage_collector(
                settings.gc_freeze_after_startup, settings.gc_gen0_threshold
            )
            log.info(
                "api.started",
                version=__version__,
                environment=settings.environment,
                replica=replica_name(settings),
                tracing=not settings.otel_sdk_disabled,
                pool_max=settings.db_pool_max_size,
                acquire_timeout_s=settings.db_acquire_timeout_seconds,
                gc_frozen_objects=frozen,
                gc_gen0_threshold=settings.gc_gen0_threshold,
            )
            try:
                yield
            finally:
                await FAULTS.stop()  # releases whatever faults held (connections, memory)
                await keeper.stop()
                await redis.aclose()
                await fault_redis.aclose()
        await loop_lag.stop()
        telemetry.flush()  # queued spans out now, bounded by the export timeout
        log.info("api.stopped")
        # Last (log records and lines): uvicorn ends a SIGTERM shutdown by re-raising the signal,
        # and atexit never runs.
        flush_logs()

    app = FastAPI(
        title="Faultline shop API",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        # FastAPI's own OpenTelemetry support is off: RequestContextMiddleware makes the server
        # span, at a fraction of the cost (faultline.telemetry.server_span says how much).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_error_handlers(app)
    for module in (products, orders, health):
        app.include_router(module.router)
    if settings.metrics_enabled:
        app.include_router(metrics_router)

    # Middleware, innermost first: unhandled errors, body limit, then the request's telemetry
    # (server span, request id, RED metrics and access log, the last two inside the span).
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_request_body_bytes)
    app.add_middleware(
        RequestContextMiddleware,
        tracing=not settings.otel_sdk_disabled,
        http_metrics=settings.metrics_enabled,
    )
    add_cors(app, settings)
    return app
