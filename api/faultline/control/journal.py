"""Append-only JSON-lines files: what the control service keeps (incidents, drill results).

Each change is appended, flushed and fsynced before the request that made it is answered, so
nothing acknowledged is lost. The state is the file replayed; a line that cannot be read is
reported by its number and skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import structlog
from pydantic import ValidationError

log = structlog.get_logger(__name__)


async def append(path: Path, entries: list[dict[str, Any]]) -> None:
    """Append `entries` as lines of `path` (0600), fsynced before returning."""
    data = b"".join(orjson.dumps(entry) + b"\n" for entry in entries)

    def write() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    await asyncio.to_thread(write)


def replay(path: Path, apply: Callable[[dict[str, Any]], None], event: str) -> list[str]:
    """Each line of `path` given to `apply`, in order; the problems of those that could not be
    read or applied ("line N: Error"), each also logged as `event`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    if not path.exists():
        return problems
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                apply(orjson.loads(line))
            except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError) as exc:
                problems.append(f"line {number}: {type(exc).__name__}")
                log.error(event, line=number, error=type(exc).__name__)
    return problems
