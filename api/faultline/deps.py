"""FastAPI dependencies as Annotated aliases, so route signatures read like prose.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a worker thread, which
costs a thread hop per dependency per request for what is only an attribute lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from faultline.cache import ProductCache
from faultline.config import Settings
from faultline.services.catalog import CatalogService
from faultline.services.health import HealthService
from faultline.services.orders import OrderService


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_cache(request: Request) -> ProductCache:
    cache: ProductCache = request.app.state.cache
    return cache


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
CacheDep = Annotated[ProductCache, Depends(get_cache)]


async def get_catalog(cache: CacheDep) -> CatalogService:
    return CatalogService(cache)


async def get_order_service(cache: CacheDep) -> OrderService:
    return OrderService(cache)


async def get_health(request: Request) -> HealthService:
    health: HealthService = request.app.state.health
    return health


CatalogDep = Annotated[CatalogService, Depends(get_catalog)]
OrdersDep = Annotated[OrderService, Depends(get_order_service)]
HealthDep = Annotated[HealthService, Depends(get_health)]
