"""LineWriter, the JSON lines' way to stdout: info lines gathered and written out by a background
thread, warnings and errors at once with everything before them, nothing lost at exit.

Real files and a real subprocess; no stand-ins.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

from faultline.telemetry.logs import LineWriter


def written(path: Path) -> list[str]:
    return path.read_bytes().decode().splitlines()


def test_info_lines_wait_and_a_warning_writes_them_first_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with path.open("wb") as stream:
        writer = LineWriter(stream, flush_interval_seconds=60)  # the thread will not flush here
        writer.info(b'{"n":1}')
        writer.info(b'{"n":2}')
        assert written(path) == []
        writer.warning(b'{"n":3}')
        assert written(path) == ['{"n":1}', '{"n":2}', '{"n":3}']
        writer.error(b'{"n":4}')
        assert written(path)[-1] == '{"n":4}'


def test_the_background_thread_writes_info_lines_out(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with path.open("wb") as stream:
        writer = LineWriter(stream, flush_interval_seconds=0.05)
        writer.info(b'{"event":"request"}')
        deadline = time.monotonic() + 5
        while not written(path) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert written(path) == ['{"event":"request"}']


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
