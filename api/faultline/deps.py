"""FastAPI dependencies as Annotated aliases, so route signatures read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from faultline.cache import ProductCache
from faultline.config import Settings
from faultline.services.catalog import CatalogService
from faultline.services.health import HealthService
from faultline.services.orders import OrderService


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_cache(request: Request) -> ProductCache:
    cache: ProductCache = request.app.state.cache
    return cache


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
CacheDep = Annotated[ProductCache, Depends(get_cache)]


def get_catalog(cache: CacheDep) -> CatalogService:
    return CatalogService(cache)


def get_order_service(cache: CacheDep) -> OrderService:
    return OrderService(cache)


def get_health(request: Request, settings: SettingsDep) -> HealthService:
    return HealthService(settings.database_url, request.app.state.redis)


CatalogDep = Annotated[CatalogService, Depends(get_catalog)]
OrdersDep = Annotated[OrderService, Depends(get_order_service)]
HealthDep = Annotated[HealthService, Depends(get_health)]
