"""lock_contention: inside the order transaction, lock one hot product row and hold it a while,
so orders queue behind each other on PostgreSQL's row lock (holding their pool connections)."""

from __future__ import annotations

from pydantic import Field
from tortoise import connections

from faultline.faults.params import FaultParams
from faultline.faults.spec import FaultSpec
from faultline.json_types import JsonInt


class LockContentionParams(FaultParams):
    hold_ms: JsonInt = Field(
        250, ge=1, le=5_000, description="How long each order holds the hot lock"
    )
    hot_product_id: JsonInt = Field(
        1, ge=1, le=2**31 - 1, description="Row every order locks first"
    )


async def in_order_transaction(params: LockContentionParams) -> None:
    client = connections.get("default")
    await client.execute_query(
        "SELECT id FROM products WHERE id = $1 FOR UPDATE", [params.hot_product_id]
    )
    await client.execute_query("SELECT pg_sleep($1)", [params.hold_ms / 1000])


FAULT = FaultSpec(
    "lock_contention",
    "Order placement takes one hot row lock and holds it",
    LockContentionParams,
    (
        "http_request_duration_seconds",
        "db_client_connection_use_time_seconds",
        "db_client_connection_pending_requests",
    ),
    position=80,
    in_order_transaction=in_order_transaction,
)
