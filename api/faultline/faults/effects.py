"""The real effects of each fault. Nothing here fakes a metric: the pool is really exhausted, the
loop is really blocked, PostgreSQL really sleeps, memory is really retained.

Request-level faults (latency, errors, event_loop_block, memory_leak, pool_exhaustion) run as a
router dependency, inside the handler's context: the route template is known, and an injected
error is raised where a real one would be (so the trace records it). The others act where their
resource is used: the connection class (slow_queries), the cache (cache_outage), the order
listing (n_plus_one) and the order transaction (lock_contention).
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import random
import time
from pathlib import Path

import structlog
from fastapi import Request
from opentelemetry import trace
from redis.exceptions import ConnectionError as RedisConnectionError
from tortoise import connections

from faultline.db.pool import current_pool
from faultline.faults.runtime import RUNTIME, FaultRuntime
from faultline.faults.store import ActiveFault

log = structlog.get_logger(__name__)


class InjectedError(RuntimeError):
    """The `errors` fault: an exception from inside the handler, answered like any other 500."""


def _applies(fault: ActiveFault | None, route: str) -> bool:
    if fault is None:
        return False
    routes = fault.params.get("routes") or []
    if routes and route not in routes:
        return False
    return random.random() < float(fault.params.get("probability", 1.0))


class ConnectionLeak:
    """pool_exhaustion: connections taken from the pool and never given back, until the fault
    is turned off (then all of them are released)."""

    def __init__(self) -> None:
        self.leaked: list[object] = []
        self._lock = asyncio.Lock()

    async def leak_one(self, max_leaked: int) -> None:
        pool = current_pool()
        if pool is None or len(self.leaked) >= min(max_leaked, pool.get_max_size()):
            return
        async with self._lock:
            try:
                # Bounded: leaking must not itself wait long for the pool it is draining, but must
                # allow for opening a new connection on a cold pool (on a busy machine that took
                # over 50 ms, and the fault never bit: found by tests/hardening).
                connection = await pool.acquire(timeout=0.5)
            except Exception:  # the pool is already exhausted (or the database is down)
                return
            self.leaked.append(connection)

    async def release_all(self) -> int:
        pool = current_pool()
        released, self.leaked = self.leaked, []
        for connection in released:
            if pool is not None:
                await pool.release(connection)
        return len(released)


# Where this process's memory limit is written: cgroup v2, then v1.
CGROUP_LIMIT_FILES = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
# The share of that limit the hoard may take: the process itself needs the rest.
HOARD_SHARE_OF_LIMIT = 0.6


def memory_limit_bytes(
    limit_files: tuple[Path, ...] = CGROUP_LIMIT_FILES, meminfo: Path = Path("/proc/meminfo")
) -> int:
    """This process's memory limit: its cgroup's, else the memory the machine has available."""
    for path in limit_files:
        with contextlib.suppress(OSError, ValueError):
            value = path.read_text().strip()
            if value != "max" and int(value) < 1 << 60:  # v1 says "no limit" with a huge number
                return int(value)
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 40


class MemoryHoard:
    """memory_leak: anonymous mappings, touched so they count in RSS; closing one returns it to
    the operating system at once (plain bytes objects may stay in the allocator's heap).

    Never more than HOARD_SHARE_OF_LIMIT of the process's memory limit, whatever max_mb says: a
    leak that gets the replica OOM-killed in a loop teaches nothing."""

    PAGE = mmap.PAGESIZE

    def __init__(self, limit_bytes: int | None = None) -> None:
        self.blocks: list[mmap.mmap] = []
        self.bytes = 0
        self._limit_bytes = limit_bytes

    @property
    def cap_bytes(self) -> int:
        if self._limit_bytes is None:
            self._limit_bytes = memory_limit_bytes()
            log.info("fault.memory_leak.cap", cap_bytes=self.cap_bytes)
        return int(self._limit_bytes * HOARD_SHARE_OF_LIMIT)

    def retain(self, kb: int, max_mb: int) -> None:
        size = kb * 1024
        if self.bytes + size > min(max_mb * 1024 * 1024, self.cap_bytes):
            return
        block = mmap.mmap(-1, size)
        for offset in range(0, size, self.PAGE):
            block[offset] = 1
        self.blocks.append(block)
        self.bytes += size

    def free(self) -> int:
        freed = self.bytes
        for block in self.blocks:
            block.close()
        self.blocks, self.bytes = [], 0
        return freed


LEAK = ConnectionLeak()
HOARD = MemoryHoard()


async def inject_request_faults(request: Request) -> None:
    """Router dependency: the request-level faults, for this route."""
    runtime = RUNTIME
    if not runtime.active:
        return
    route = str(getattr(request.scope.get("route"), "path", ""))
    span = trace.get_current_span()
    span.set_attributes(runtime.stamp())
    structlog.contextvars.bind_contextvars(faults=sorted(runtime.active))

    memory = runtime.get("memory_leak")
    if _applies(memory, route) and memory is not None:
        HOARD.retain(int(memory.params["kb_per_request"]), int(memory.params["max_mb"]))
    leak = runtime.get("pool_exhaustion")
    if _applies(leak, route) and leak is not None:
        await LEAK.leak_one(int(leak.params["max_leaked"]))
    block = runtime.get("event_loop_block")
    if _applies(block, route) and block is not None:
        time.sleep(int(block.params["block_ms"]) / 1000)  # noqa: ASYNC251  (the fault itself)
    latency = runtime.get("latency")
    if _applies(latency, route) and latency is not None:
        delay = int(latency.params["delay_ms"]) + random.uniform(
            0, int(latency.params["jitter_ms"])
        )
        await asyncio.sleep(delay / 1000)
    errors = runtime.get("errors")
    if _applies(errors, route):
        raise InjectedError("injected fault: errors")


def slow_query_seconds() -> float:
    fault = RUNTIME.get("slow_queries")
    return int(fault.params["delay_ms"]) / 1000 if fault is not None else 0.0


async def fail_if_cache_outage() -> None:
    fault = RUNTIME.get("cache_outage")
    if fault is not None:
        delay = int(fault.params["failure_delay_ms"])
        if delay:
            await asyncio.sleep(delay / 1000)
        raise RedisConnectionError("injected fault: cache_outage (Redis unreachable)")


def n_plus_one_active() -> bool:
    return RUNTIME.get("n_plus_one") is not None


async def hold_hot_lock() -> None:
    """lock_contention: inside the order transaction, lock one hot row and hold it a while."""
    fault = RUNTIME.get("lock_contention")
    if fault is None:
        return
    client = connections.get("default")
    await client.execute_query(
        "SELECT id FROM products WHERE id = $1 FOR UPDATE", [int(fault.params["hot_product_id"])]
    )
    await client.execute_query("SELECT pg_sleep($1)", [int(fault.params["hold_ms"]) / 1000])


async def _release_on_disable(name: str) -> None:
    if name == "pool_exhaustion":
        released = await LEAK.release_all()
        log.info("fault.pool_exhaustion.released", connections=released)
    elif name == "memory_leak":
        freed = HOARD.free()
        log.info("fault.memory_leak.freed", bytes=freed)


def install(runtime: FaultRuntime = RUNTIME) -> None:
    if _release_on_disable not in runtime._on_disable:
        runtime.on_disable(_release_on_disable)
