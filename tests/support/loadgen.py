"""The project's own load generator (loadtest/locustfile.py) as the tests start it: Locust,
headless, against one host, configured by the same LOAD_* variables the `loadgen` service reads
(the locustfile's docstring lists them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"


def headless_locust(
    host: str, catalogue_size: int, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start Locust headless against `host`, its shoppers reading product ids 1..catalogue_size
    (the catalogue the test seeded), with the LOAD_* settings in `env`. Its output, the summary
    included (`--only-summary`: no periodic tables), goes to `log`."""
    return locust(catalogue_size, env, log, "--headless", "--only-summary", "--host", host)


def locust(
    catalogue_size: int, env: dict[str, str], log: Path, *args: str
) -> subprocess.Popen[bytes]:
    """Start one Locust process on the project's locustfile with Locust's own `args` (a master,
    a worker, a web UI), its output to `log`."""
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args],
            env={**os.environ, "CATALOGUE_SIZE": str(catalogue_size), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
