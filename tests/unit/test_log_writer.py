"""LineWriter, the JSON lines' way to stdout: info lines logged on an event loop gathered and
written out by a timer on that loop, warnings and errors at once with everything before them,
lines logged elsewhere at once, nothing lost at exit.

Real files and a real subprocess; no stand-ins.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import time
from pathlib import Path

from faultline.telemetry.logs import LineWriter


def written(path: Path) -> list[str]:
    return path.read_bytes().decode().splitlines()


async def test_info_lines_wait_and_a_warning_writes_them_first_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with path.open("wb") as stream:
        writer = LineWriter(stream, flush_interval_seconds=60)  # the timer will not fire here
        writer.info(b'{"n":1}')
        writer.info(b'{"n":2}')
        assert written(path) == []
        writer.warning(b'{"n":3}')
        assert written(path) == ['{"n":1}', '{"n":2}', '{"n":3}']
        writer.error(b'{"n":4}')
        assert written(path)[-1] == '{"n":4}'


async def test_the_event_loop_writes_info_lines_out_after_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with path.open("wb") as stream:
        writer = LineWriter(stream, flush_interval_seconds=0.05)
        writer.info(b'{"event":"request"}')
        assert written(path) == []
        deadline = time.monotonic() + 5
        while not written(path) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert written(path) == ['{"event":"request"}']
        writer.info(b'{"event":"again"}')  # the timer is scheduled again for the next lines
        while len(written(path)) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert written(path)[-1] == '{"event":"again"}'


def test_a_line_logged_outside_an_event_loop_is_written_at_once(tmp_path: Path) -> None:
    """No loop would come back to write it (a CLI command, the export thread)."""
    path = tmp_path / "out.log"
    with path.open("wb") as stream:
        writer = LineWriter(stream, flush_interval_seconds=60)
        writer.info(b"a")
        assert written(path) == ["a"]


def test_a_new_event_loop_gets_its_own_timer(tmp_path: Path) -> None:
    """A timer left on a closed loop never fires; lines on the next loop must not wait for it."""
    path = tmp_path / "out.log"
    with path.open("wb") as stream:
        writer = LineWriter(stream, flush_interval_seconds=0.05)

        async def log_and_wait(line: bytes, wait: float) -> None:
            writer.info(line)
            await asyncio.sleep(wait)

        asyncio.run(log_and_wait(b"first", 0))  # its loop closes before the timer fires
        asyncio.run(log_and_wait(b"second", 0.5))
        assert written(path) == ["first", "second"]


def test_interval_zero_writes_every_line_at_once(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with path.open("wb", buffering=0) as stream:
        writer = LineWriter(stream, flush_interval_seconds=0)
        writer.info(b"a")
        assert written(path) == ["a"]


def test_a_stream_without_a_file_descriptor_gets_every_line_at_once() -> None:
    stream = io.BytesIO()
    writer = LineWriter(stream, flush_interval_seconds=0.1)
    writer.info(b"a")
    assert stream.getvalue() == b"a\n"


def test_lines_still_buffered_at_exit_are_written(tmp_path: Path) -> None:
    """A normal exit (uvicorn's after SIGTERM, too) writes what was gathered."""
    code = (
        "import sys\n"
        "from faultline.telemetry.logs import LineWriter\n"
        "writer = LineWriter(sys.stdout.buffer, flush_interval_seconds=60)\n"
        "for n in range(1000):\n"
        "    writer.info(b'line %d' % n)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    lines = out.decode().splitlines()
    assert len(lines) == 1000 and lines[-1] == "line 999"
