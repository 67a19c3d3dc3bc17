"""memory_leak never retains more than its process can afford: the catalogue's bound fits the
API container, and the hoard itself stops at a share of the process's memory limit (its cgroup's,
else the machine's available memory), whatever max_mb says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from faultline.faults.kinds.memory_leak import (
    HOARD_SHARE_OF_LIMIT,
    MemoryHoard,
    MemoryLeakParams,
    memory_limit_bytes,
)
from tests.support.stack_files import ROOT, megabytes

# The API's own working set under load, rounded up (docs/reliability.md, soak: ~100 MiB).
API_WORKING_SET_MB = 150


def test_the_catalogue_bound_fits_the_api_container() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    limit = megabytes(compose["services"]["api"]["deploy"]["resources"]["limits"]["memory"])
    max_mb = MemoryLeakParams.model_json_schema()["properties"]["max_mb"]
    assert max_mb["maximum"] + API_WORKING_SET_MB <= limit
    assert max_mb["default"] <= max_mb["maximum"]


def test_the_limit_is_the_cgroup_s_else_the_machine_s(tmp_path: Path) -> None:
    v2, v1, meminfo = tmp_path / "memory.max", tmp_path / "limit_in_bytes", tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n")
    v2.write_text("536870912\n")
    assert memory_limit_bytes((v2, v1), meminfo) == 512 * 1024 * 1024
    v2.write_text("max\n")
    v1.write_text(str(2**63 - 4096))  # cgroup v1's "no limit"
    assert memory_limit_bytes((v2, v1), meminfo) == 4_000_000 * 1024
    v1.write_text("268435456")
    assert memory_limit_bytes((v2, v1), meminfo) == 256 * 1024 * 1024


def test_the_hoard_stops_at_its_share_of_the_limit() -> None:
    limit = 20 * 1024 * 1024
    hoard = MemoryHoard(limit_bytes=limit)
    try:
        for _ in range(40):
            hoard.retain(kb=1024, max_mb=300)  # max_mb alone would allow all 40
        assert hoard.bytes == int(limit * HOARD_SHARE_OF_LIMIT) // (1024 * 1024) * 1024 * 1024
        assert 0 < hoard.bytes <= limit * HOARD_SHARE_OF_LIMIT
    finally:
        hoard.free()
    assert hoard.bytes == 0
