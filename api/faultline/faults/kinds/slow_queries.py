"""slow_queries: every statement first sleeps inside PostgreSQL (pg_sleep) on its connection, so
the time is spent in the database (pg_stat_activity shows it) and the connection is really held."""

from __future__ import annotations

from pydantic import Field

from faultline.faults.params import FaultParams
from faultline.faults.spec import FaultSpec
from faultline.json_types import JsonInt


class SlowQueryParams(FaultParams):
    delay_ms: JsonInt = Field(
        150, ge=1, le=5_000, description="pg_sleep run before every statement, on its connection"
    )


def statement_delay(params: SlowQueryParams) -> float:
    return params.delay_ms / 1000


FAULT = FaultSpec(
    "slow_queries",
    "Every statement first waits inside PostgreSQL (pg_sleep), holding its connection",
    SlowQueryParams,
    (
        "db_client_operation_duration_seconds",
        "db_client_connection_use_time_seconds",
        "http_request_duration_seconds",
    ),
    position=20,
    statement_delay=statement_delay,
)
