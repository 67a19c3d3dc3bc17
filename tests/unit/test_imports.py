"""The repository's folders import each other as packages (labkit is installed; bench, dev,
scripts, loadtest and tests are run from the root with `python -m`): no file edits the import
path or loads another by its file name."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATH_HACKS = re.compile(
    r"sys\.path\.(insert|append|extend)|spec_from_file_location|runpy\.run_path"
)


def python_files() -> list[Path]:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in tracked if (ROOT / name).exists()]


def test_no_file_edits_the_import_path() -> None:
    this = Path(__file__).resolve()
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in python_files()
        if path != this
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PATH_HACKS.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_the_checker_sees_a_path_hack() -> None:
    assert PATH_HACKS.search('sys.path.insert(0, str(ROOT / "scripts"))')
    assert PATH_HACKS.search('importlib.util.spec_from_file_location("x", path)')
