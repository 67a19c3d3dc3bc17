"""The generated sections of README.md and docs/ match their sources of truth."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_is_rendered_from_the_catalogue() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dev.render_docs", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
