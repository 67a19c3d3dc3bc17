"""n_plus_one: the order listing loads its items one query at a time (the N+1 pattern)."""

from __future__ import annotations

from faultline.faults.params import FaultParams
from faultline.faults.spec import FaultSpec


class NPlusOneParams(FaultParams):
    pass


FAULT = FaultSpec(
    "n_plus_one",
    "Order listing loads items one query at a time (N+1)",
    NPlusOneParams,
    ("db_client_operation_duration_seconds", "http_request_duration_seconds"),
    position=40,
    one_query_per_order_item=True,
)
