"""The stack's files as the stack checks read them: the repository root, compose.yaml, .env, and
the small helpers several tests/stack modules share."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from labkit.settings import read_env_file

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"


def load_env() -> dict[str, str]:
    """The committed .env alone (not a developer's .env.local): what a fresh clone runs."""
    return read_env_file(ROOT / ".env")


def image_key(service: dict[str, Any]) -> str:
    image = str(service.get("image", ""))
    match = re.fullmatch(r"\$\{(\w+)\}", image)
    return match.group(1) if match else image


def megabytes(limit: str) -> float:
    number, unit = float(limit[:-1]), limit[-1].lower()
    return number * {"m": 1, "g": 1024}[unit]


def assert_schema_valid(builtin_schema: str, path: Path) -> None:
    """check-jsonschema with one of its built-in (vendored) schemas."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", builtin_schema, str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
