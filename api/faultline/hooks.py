"""The seams where faults plug into the shop: what the layers call, and nothing else.

Routes, services, the cache and the database layer call these points and know nothing of faults
(dependencies point one way: routes -> services -> data). At start-up the fault runtime installs
itself as the implementation (`install`); until then, and in a process with no faults, every point
does nothing. Each point says where in the stack it sits:

- `before_request(route)`: inside the handler's context, before the handler (routes' dependency);
- `statement_delay()`: seconds PostgreSQL sleeps before each statement, on its connection;
- `before_cache_call()`: before each Redis call of the product cache (may raise RedisError);
- `in_order_transaction()`: first thing inside the order transaction;
- `one_query_per_order_item()`: whether the order listing loads items one query at a time.
"""

from __future__ import annotations

from typing import Protocol


class Seams(Protocol):
    async def before_request(self, route: str) -> None: ...

    def statement_delay(self) -> float: ...

    async def before_cache_call(self) -> None: ...

    async def in_order_transaction(self) -> None: ...

    def one_query_per_order_item(self) -> bool: ...


class NoFaults:
    """Every seam a no-op: the shop as it runs with no fault runtime installed."""

    async def before_request(self, route: str) -> None:
        return None

    def statement_delay(self) -> float:
        return 0.0

    async def before_cache_call(self) -> None:
        return None

    async def in_order_transaction(self) -> None:
        return None

    def one_query_per_order_item(self) -> bool:
        return False


_current: Seams = NoFaults()


def install(seams: Seams) -> None:
    global _current
    _current = seams


def current() -> Seams:
    return _current
