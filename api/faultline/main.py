"""The shop API: `create_app()` builds it; uvicorn runs `faultline.main:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from tortoise.contrib.fastapi import RegisterTortoise

from faultline import __version__
from faultline.cache import ProductCache, create_redis
from faultline.config import Settings, get_settings
from faultline.db.config import tortoise_config
from faultline.errors import install_error_handlers
from faultline.logging import configure_logging
from faultline.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from faultline.routes import health, orders, products
from faultline.services.stock import StockKeeper


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
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
            keeper.start()
            try:
                yield
            finally:
                await keeper.stop()
                await redis.aclose()

    app = FastAPI(
        title="Faultline shop API",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    install_error_handlers(app)

    for module in (products, orders, health):
        app.include_router(module.router)

    # Outermost last: the request id exists before anything else runs.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_request_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn faultline.main:app` builds the app on first access, never at import time.
    if name == "app":
        return create_app()
    raise AttributeError(name)
