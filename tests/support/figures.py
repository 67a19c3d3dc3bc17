"""Measured figures from the hardening tests, for `make hardening` (bench/hardening.py).

Each test that measures something records it here as JSON (test-output/hardening/<name>.json);
the report reads these files, so the figures in it are the ones the tests asserted on.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

FIGURES_DIR = Path(__file__).resolve().parents[2] / "test-output" / "hardening"


def record(name: str, figures: dict[str, Any]) -> None:
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **figures}
    (FIGURES_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")


def load_all() -> dict[str, dict[str, Any]]:
    if not FIGURES_DIR.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(FIGURES_DIR.glob("*.json"))}
