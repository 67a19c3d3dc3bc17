from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from faultline.deps import OrdersDep
from faultline.routes import API_PREFIX, COMMON_ERRORS, CONFLICT, NOT_FOUND, before_request
from faultline.schemas import MAX_DB_ID, ORDERS_PAGE_MAX, OrderIn, OrderList, OrderOut

router = APIRouter(
    prefix=f"{API_PREFIX}/orders",
    tags=["orders"],
    responses=COMMON_ERRORS,
    # The seam where request-level faults plug in (a no-op when none is on).
    dependencies=[Depends(before_request)],
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retries with the same key return the first result instead of a new order",
    ),
]


@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    responses=CONFLICT,
    summary="Place an order (one transaction; stock never goes below zero)",
)
async def place_order(
    body: OrderIn, orders: OrdersDep, response: Response, idempotency_key: IdempotencyKey = None
) -> OrderOut:
    order, replayed = await orders.place_order(body, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"{API_PREFIX}/orders/{order.id}"
    return order


@router.get("", response_model=OrderList, summary="Recent orders with their items")
async def recent_orders(
    orders: OrdersDep, limit: Annotated[int, Query(ge=1, le=ORDERS_PAGE_MAX)] = 10
) -> OrderList:
    return OrderList(items=list(await orders.recent_orders(limit)))


@router.get("/{order_id}", response_model=OrderOut, responses=NOT_FOUND, summary="One order")
async def get_order(
    orders: OrdersDep, order_id: Annotated[int, Path(ge=1, le=MAX_DB_ID)]
) -> OrderOut:
    return await orders.get_order(order_id)
