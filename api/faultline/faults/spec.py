"""A fault: its name, what it does, its parameters, the signals it moves, and its hooks.

Each fault is one module in `faultline.faults.kinds` that defines `FAULT = FaultSpec(...)`; the
catalogue finds it there. A hook receives the fault's own parameters (an instance of its model),
and is called at its seam (faultline.hooks) only while the fault is on:

- `before_request(params, route)`: before the handler, inside its context;
- `statement_delay(params)`: seconds PostgreSQL sleeps before each statement;
- `before_cache_call(params)`: before each product-cache call (raise RedisError to fail it);
- `in_order_transaction(params)`: first thing inside the order transaction;
- `one_query_per_order_item`: the order listing loads items one query at a time;
- `switched_on(params)` / `switched_off()`: start what runs beside the shop, release what the
  fault held (connections, memory, threads) when it goes off here.

`position` orders the catalogue, and so the request hooks: a hook that raises goes last.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from faultline.faults.params import FaultParams, RoutedParams

P = TypeVar("P", bound=FaultParams)


@dataclass(frozen=True)
class FaultSpec(Generic[P]):
    name: str
    description: str
    params: type[P]
    signals: tuple[str, ...]
    position: int
    before_request: Callable[[P, str], Awaitable[None]] | None = None
    statement_delay: Callable[[P], float] | None = None
    before_cache_call: Callable[[P], Awaitable[None]] | None = None
    in_order_transaction: Callable[[P], Awaitable[None]] | None = None
    one_query_per_order_item: bool = False
    switched_on: Callable[[P], Awaitable[None]] | None = None
    switched_off: Callable[[], Awaitable[None]] | None = None

    @property
    def targets_routes(self) -> bool:
        return issubclass(self.params, RoutedParams)


AnySpec = FaultSpec[Any]
