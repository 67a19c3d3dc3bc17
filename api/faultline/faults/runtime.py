"""What this replica believes is broken right now, kept in step with the fault store.

A change reaches the replica within a second: a pub/sub message wakes the sync loop at once, and
it re-reads every second anyway (a missed message or a Redis key expiring needs no message).
If the store cannot be read for longer than the grace period, every fault switches off here: a
broken lab must fail safe, never stay broken with no way to heal it. The loop survives anything:
a bad store entry is reported and treated as off (faultline.faults.store), and any other error in
a sync is logged and the next tick tries again.

The runtime reads the store over its own connections (`STORE_CONNECTIONS`, not the cache's pool):
under overload the shop's requests can hold every cache connection, and a runtime sharing them
would miss its reads and, after the grace period, switch every fault off mid-workshop.

The runtime is process-wide (`RUNTIME`): the effects live deep in the stack (the connection
class, the cache) and faults are a property of the process, not of a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from faultline.faults.catalogue import CATALOGUE
from faultline.faults.store import CHANNEL, ActiveFault, FaultStore, StoreProblem
from faultline.telemetry.metrics import FAULT_ACTIVE, FAULT_PARAMETER, FAULT_STORE_INVALID

log = structlog.get_logger(__name__)

OnDisable = Callable[[str], Awaitable[None]]


# The runtime's own Redis connections: one subscribed to the change channel, one for reads.
STORE_CONNECTIONS = 2


class FaultRuntime:
    def __init__(self) -> None:
        self.active: dict[str, ActiveFault] = {}
        self._on_disable: list[OnDisable] = []
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

    def on_disable(self, hook: OnDisable) -> None:
        """Run `hook(name)` when a fault switches off here (release what it held)."""
        self._on_disable.append(hook)

    async def apply(self, snapshot: dict[str, ActiveFault]) -> None:
        previous = self.active
        self.active = snapshot
        for name in snapshot.keys() - previous.keys():
            log.warning("fault.on", fault=name, params=snapshot[name].params)
        for name in previous.keys() - snapshot.keys():
            log.info("fault.off", fault=name)
            for hook in self._on_disable:
                try:
                    await hook(name)
                except Exception:  # one hook failing must not keep the others from releasing
                    log.exception("fault.release_failed", fault=name)
        for name in CATALOGUE:
            fault = snapshot.get(name)
            FAULT_ACTIVE.labels(name).set(1 if fault else 0)
            if fault is not None:
                for param, value in fault.params.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        FAULT_PARAMETER.labels(name, param).set(value)

    async def start(self, redis: Redis, interval: float, grace: float) -> None:
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


RUNTIME = FaultRuntime()
