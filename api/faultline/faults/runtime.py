"""What this replica believes is broken right now, kept in step with the fault store, and the
seams (faultline.hooks) through which the active faults act on the shop.

A change reaches the replica within a second: a pub/sub message wakes the sync loop at once, and
it re-reads every second anyway (a missed message or a Redis key expiring needs no message).
If the store cannot be read for longer than the grace period, every fault switches off here: a
broken lab must fail safe, never stay broken with no way to heal it. The loop survives anything:
a bad store entry is reported and treated as off (faultline.faults.store), and any other error in
a sync is logged and the next tick tries again.

The runtime reads the store over its own connections (`STORE_CONNECTIONS`, not the cache's pool):
under overload the shop's requests can hold every cache connection, and a runtime sharing them
would miss its reads and, after the grace period, switch every fault off mid-workshop.

The runtime is process-wide (`RUNTIME`): faults are a property of the process, not of a request.
The API starts it with `effects=True` and its replica name (faultline.replica): a fault scoped to
another replica is not active here at all. The control service only watches (for its fault_active
metrics: every fault on in the lab), so nothing a fault starts or holds ever runs there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from opentelemetry import trace
from redis.asyncio import Redis
from redis.exceptions import RedisError

from faultline.faults.catalogue import CATALOGUE
from faultline.faults.store import CHANNEL, ActiveFault, FaultStore, StoreProblem
from faultline.telemetry.metrics import (
    FAULT_ACTIVE,
    FAULT_PARAMETER,
    FAULT_SCOPE,
    FAULT_STORE_INVALID,
)

log = structlog.get_logger(__name__)

# The runtime's own Redis connections: one subscribed to the change channel, one for reads.
STORE_CONNECTIONS = 2


class FaultRuntime:
    def __init__(self) -> None:
        self.active: dict[str, ActiveFault] = {}  # the faults that act here
        self.effects = False
        self.replica: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._store: FaultStore | None = None
        self._redis: Redis | None = None
        self.last_sync = 0.0
        self.store_reachable = True
        self.problems: list[StoreProblem] = []
        for name in CATALOGUE:
            FAULT_ACTIVE.labels(name).set(0)

    def get(self, name: str) -> ActiveFault | None:
        return self.active.get(name)

    async def apply(self, lab: dict[str, ActiveFault]) -> None:
        """The lab's faults are now `lab`: those that act here become active, the rest do not."""
        FAULT_SCOPE.clear()
        for name, fault in lab.items():
            FAULT_SCOPE.labels(name, fault.params.replica or "all").set(1)
        snapshot = {
            name: fault
            for name, fault in lab.items()
            if not self.effects or fault.params.acts_on(self.replica)
        }
        previous = self.active
        self.active = snapshot
        for name, now_on in snapshot.items():
            before = previous.get(name)
            if before is None or before.params != now_on.params:
                log.warning(
                    "fault.on",
                    fault=name,
                    replica=self.replica,
                    params=now_on.params.model_dump(mode="json"),
                )
                await self._run_effect(name, "switched_on", now_on)
        for name in previous.keys() - snapshot.keys():
            log.info("fault.off", fault=name, replica=self.replica)
            await self._run_effect(name, "switched_off", None)
        for name in CATALOGUE:
            acting = snapshot.get(name)
            FAULT_ACTIVE.labels(name).set(1 if acting else 0)
            if acting is not None:
                for param, value in acting.params.model_dump().items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        FAULT_PARAMETER.labels(name, param).set(value)

    async def _run_effect(self, name: str, which: str, fault: ActiveFault | None) -> None:
        """A fault's switched_on(params) or switched_off(), where effects run; a failing one is
        logged and does not keep the others from running."""
        hook = getattr(CATALOGUE[name], which)
        if not self.effects or hook is None:
            return
        try:
            await (hook(fault.params) if fault is not None else hook())
        except Exception:
            log.exception(f"fault.{which}_failed", fault=name)

    async def start(
        self,
        redis: Redis,
        interval: float,
        grace: float,
        *,
        effects: bool,
        replica: str | None = None,
    ) -> None:
        self.effects = effects
        self.replica = replica
        self._redis = redis
        self._store = FaultStore(redis)
        self._tasks = [
            asyncio.create_task(self._sync_loop(interval, grace), name="fault-sync"),
            asyncio.create_task(self._listen(), name="fault-listen"),
        ]
        try:
            await self.sync_once(grace)
        except Exception:  # start anyway: the loop retries every interval
            log.exception("fault.sync_failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.apply({})

    async def sync_once(self, grace: float) -> None:
        assert self._store is not None
        try:
            snapshot = await self._store.read()
        except (RedisError, OSError) as exc:
            if self.store_reachable:
                log.warning("fault.store_unreachable", error_type=type(exc).__name__, grace_s=grace)
            self.store_reachable = False
            if self.active and time.monotonic() - self.last_sync > grace:
                log.warning("fault.fail_safe", detail="fault store unreachable; all faults off")
                await self.apply({})
            return
        if not self.store_reachable:
            log.info("fault.store_reachable")
        self.store_reachable = True
        self.last_sync = time.monotonic()
        self._report(snapshot.problems)
        await self.apply(snapshot.active)

    def _report(self, problems: list[StoreProblem]) -> None:
        """Each bad entry logged once (not every second), and counted while it is there."""
        for problem in set(problems) - set(self.problems):
            log.error("fault.store_entry_invalid", key=problem.key, problem=problem.problem)
        self.problems = problems
        FAULT_STORE_INVALID.set(len(problems))

    async def _sync_loop(self, interval: float, grace: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            try:
                await self.sync_once(grace)
            except Exception:
                log.exception("fault.sync_failed")

    async def _listen(self) -> None:
        assert self._redis is not None
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._wake.set()
            except Exception:  # Redis gone, or anything else: listen again in a second
                await asyncio.sleep(1.0)

    def stamp(self) -> dict[str, Any]:
        """Span attributes naming the active faults (`faultline.fault.<name>`)."""
        return {f"faultline.fault.{name}": True for name in self.active}

    # --- The seams (faultline.hooks.Seams): each active fault's hook, in catalogue order. ---

    async def before_request(self, route: str) -> None:
        active = self.active  # one snapshot for the whole request
        if not active:
            return
        trace.get_current_span().set_attributes(self.stamp())
        structlog.contextvars.bind_contextvars(faults=sorted(active))
        for name, fault in active.items():
            hook = CATALOGUE[name].before_request
            if hook is not None:
                await hook(fault.params, route)

    def statement_delay(self) -> float:
        if not self.active:  # every SQL statement asks: the usual answer costs one check
            return 0.0
        return sum(
            hook(fault.params)
            for name, fault in self.active.items()
            if (hook := CATALOGUE[name].statement_delay) is not None
        )

    async def before_cache_call(self) -> None:
        for name, fault in self.active.items():
            hook = CATALOGUE[name].before_cache_call
            if hook is not None:
                await hook(fault.params)

    async def in_order_transaction(self) -> None:
        for name, fault in self.active.items():
            hook = CATALOGUE[name].in_order_transaction
            if hook is not None:
                await hook(fault.params)

    def one_query_per_order_item(self) -> bool:
        return any(CATALOGUE[name].one_query_per_order_item for name in self.active)


RUNTIME = FaultRuntime()
