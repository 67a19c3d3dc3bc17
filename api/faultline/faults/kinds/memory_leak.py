"""memory_leak: each request it hits retains memory, until the fault goes off and frees it.

Anonymous mappings, touched so they count in RSS; closing one returns it to the operating system
at once (plain bytes objects may stay in the allocator's heap). Never more than
HOARD_SHARE_OF_LIMIT of the process's memory limit, whatever max_mb says: a leak that gets the
replica OOM-killed in a loop teaches nothing.
"""

from __future__ import annotations

import contextlib
import mmap
from pathlib import Path

import structlog
from pydantic import Field

from faultline.faults.params import RoutedParams
from faultline.faults.spec import FaultSpec
from faultline.json_types import JsonInt

log = structlog.get_logger(__name__)

# The most memory_leak may retain. Compose gives an API replica 512 MiB and it uses ~100 MiB
# under load (docs/reliability.md, soak): 320 leaves room, so the leak shows on the dashboards
# instead of the replica being OOM-killed in a loop. The hoard caps it lower where the process's
# own memory limit (cgroup, else the machine's available memory) is smaller.
MEMORY_LEAK_MAX_MB = 320
# Where this process's memory limit is written: cgroup v2, then v1.
CGROUP_LIMIT_FILES = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
# The share of that limit the hoard may take: the process itself needs the rest.
HOARD_SHARE_OF_LIMIT = 0.6


class MemoryLeakParams(RoutedParams):
    kb_per_request: JsonInt = Field(256, ge=4, le=8_192, description="Memory retained per request")
    max_mb: JsonInt = Field(
        192, ge=1, le=MEMORY_LEAK_MAX_MB, description="Stop retaining beyond this much"
    )


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


HOARD = MemoryHoard()


async def before_request(params: MemoryLeakParams, route: str) -> None:
    if params.hits(route):
        HOARD.retain(params.kb_per_request, params.max_mb)


async def switched_off() -> None:
    log.info("fault.memory_leak.freed", bytes=HOARD.free())


FAULT = FaultSpec(
    "memory_leak",
    "Each request retains memory; turning the fault off frees it",
    MemoryLeakParams,
    ("process_resident_memory_bytes",),
    position=70,
    before_request=before_request,
    switched_off=switched_off,
)
