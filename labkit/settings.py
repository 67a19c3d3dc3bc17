"""The lab's settings as Docker Compose reads them for `make up`: .env, then .env.local over it,
and the process's own environment over both. scripts/env.sh does the same for the shell tools,
so the native lab, the tests and `make up` agree on every published port and image pin."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, as Compose takes them: comments and blank lines skipped, one pair of
    surrounding quotes removed, nothing else interpreted."""
    settings: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return settings
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if not sep or not key or key.startswith("#"):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        settings[key] = value
    return settings


def lab_settings(root: Path = ROOT) -> dict[str, str]:
    merged = {**read_env_file(root / ".env"), **read_env_file(root / ".env.local")}
    return {key: os.environ.get(key, value) for key, value in merged.items()}


def setting(name: str) -> str:
    """One setting; every one the lab needs is in .env, so a missing one is a broken checkout."""
    try:
        return lab_settings()[name]
    except KeyError:
        raise KeyError(f"{name} is not set in {ROOT / '.env'}") from None
