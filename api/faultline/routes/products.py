from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from faultline.deps import CatalogDep
from faultline.routes import API_PREFIX, COMMON_ERRORS, NOT_FOUND, before_request
from faultline.schemas import MAX_DB_ID, MAX_OFFSET, PRODUCTS_PAGE_MAX, ProductOut, ProductPage

router = APIRouter(
    prefix=f"{API_PREFIX}/products",
    tags=["products"],
    responses=COMMON_ERRORS,
    # The seam where request-level faults plug in (a no-op when none is on).
    dependencies=[Depends(before_request)],
)


@router.get("", response_model=ProductPage, summary="Browse the catalogue")
async def list_products(
    catalog: CatalogDep,
    limit: Annotated[int, Query(ge=1, le=PRODUCTS_PAGE_MAX)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            # No control characters: PostgreSQL text cannot hold NUL (found by schemathesis).
            pattern=r"^[^\x00-\x1f\x7f]+$",
            description="Name contains (printable text)",
        ),
    ] = None,
) -> ProductPage:
    return await catalog.list_products(limit, offset, q)


@router.get(
    "/{product_id}", response_model=ProductOut, responses=NOT_FOUND, summary="One product (cached)"
)
async def get_product(
    catalog: CatalogDep, product_id: Annotated[int, Path(ge=1, le=MAX_DB_ID)]
) -> ProductOut:
    return await catalog.get_product(product_id)
