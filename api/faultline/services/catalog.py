"""Reading the catalogue: cache-aside on single products, the database for listings."""

from __future__ import annotations

from opentelemetry import trace

from faultline.cache import CacheResult, ProductCache
from faultline.db import products as product_queries
from faultline.errors import NotFound
from faultline.schemas import ProductOut, ProductPage
from faultline.telemetry.spans import operation_span

tracer = trace.get_tracer(__name__)


class CatalogService:
    def __init__(self, cache: ProductCache) -> None:
        self._cache = cache

    async def get_product(self, product_id: int) -> ProductOut:
        with operation_span(tracer, "load product") as span:
            span.set_attribute("shop.product.id", product_id)
            result, cached = await self._cache.get(product_id)
            span.set_attribute("shop.cache.result", result.value)
            if result is CacheResult.HIT and cached is not None:
                return cached
            row = await product_queries.get_product(product_id)
            if row is None:
                raise NotFound(f"Product {product_id} not found")
            product = ProductOut.model_validate(row)
            if result is not CacheResult.ERROR:
                await self._cache.put(product)
            return product

    async def list_products(
        self, limit: int, offset: int, name_contains: str | None
    ) -> ProductPage:
        rows, total = await product_queries.list_products(limit, offset, name_contains)
        return ProductPage(
            items=[ProductOut.model_validate(r) for r in rows],
            total=total,
            limit=limit,
            offset=offset,
        )
