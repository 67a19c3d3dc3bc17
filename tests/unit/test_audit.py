"""How `make audit` (dev/audit.py) judges a pin when pip-audit could not: from PyPI's project
JSON, which speaks for the project's latest release only. A pin that is not that release must come
out unchecked, never clean; a lock with unchecked pins must come out partial, never clean."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dev.audit import LOCKS, describe, judge_from_project_json, read_pins, summarise

ROOT = Path(__file__).resolve().parents[2]

# Trimmed from https://pypi.org/pypi/ecdsa/json as served on 2026-12-02: the latest release has
# two known vulnerabilities (the Minerva timing attack, unfixed upstream); the third entry is
# made up to stand for an advisory PyPI marks as withdrawn.
ECDSA: dict[str, Any] = {
    "info": {"version": "0.19.2"},
    "vulnerabilities": [
        {"id": "PYSEC-2026-1325", "fixed_in": [], "withdrawn": None},
        {"id": "GHSA-wj6h-64fc-37mp", "fixed_in": [], "withdrawn": None},
        {"id": "GHSA-made-up-withdrawn", "fixed_in": [], "withdrawn": "2026-01-01T00:00:00Z"},
    ],
}


def test_a_pin_that_is_the_latest_release_gets_its_known_vulnerabilities() -> None:
    assert judge_from_project_json("0.19.2", ECDSA) == {
        "vulns": ["PYSEC-2026-1325", "GHSA-wj6h-64fc-37mp"]
    }
    clean = {"info": {"version": "1.0"}, "vulnerabilities": []}
    assert judge_from_project_json("1.0", clean) == {"vulns": []}


def test_an_older_pin_is_unchecked_not_clean() -> None:
    # Even with nothing listed for the latest release: a flaw fixed since would not be listed.
    clean_latest = {"info": {"version": "0.20.0"}, "vulnerabilities": []}
    answer = judge_from_project_json("0.19.2", clean_latest)
    assert answer == {"unchecked": "not the latest release (0.20.0)"}


def test_the_verdict_names_every_vulnerable_and_every_unchecked_pin() -> None:
    pins = {"ecdsa": "0.19.2", "old": "1.0", "fine": "2.0"}
    answers = {
        "ecdsa": judge_from_project_json("0.19.2", ECDSA),
        "old": {"unchecked": "not the latest release (1.1)"},
        "fine": {"vulns": []},
    }
    result = summarise(pins, answers) | {"by_pip_audit": 0, "by_project_json": 2}
    assert describe("x.lock", result) == [
        "x.lock: findings: 2 of 3 pins checked (0 by pip-audit, 2 from the project JSON of their"
        " latest release)",
        "  VULNERABLE ecdsa==0.19.2: ['PYSEC-2026-1325', 'GHSA-wj6h-64fc-37mp']",
        "  unchecked old==1.0: not the latest release (1.1)",
    ]


@pytest.mark.parametrize(
    ("answers", "status", "checked"),
    [
        ({"a": {"vulns": []}, "b": {"vulns": []}}, "clean", 2),
        ({"a": {"vulns": []}, "b": {"unchecked": "not the latest release (2)"}}, "partial", 1),
        ({"a": {"unchecked": "x"}, "b": {"unchecked": "y"}}, "NOT RUN", 0),
        ({"a": {"vulns": ["PYSEC-1"]}, "b": {"unchecked": "y"}}, "findings", 1),
    ],
)
def test_a_lock_is_clean_only_when_every_pin_was_checked(
    answers: dict[str, dict[str, Any]], status: str, checked: int
) -> None:
    result = summarise({"a": "1", "b": "1"}, answers)
    assert (result["status"], result["checked"], result["pins"]) == (status, checked, 2)
    assert list(result["unchecked"]) == [f"{n}==1" for n, a in answers.items() if "unchecked" in a]


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_of_the_lock_files_is_read(lock: str) -> None:
    lines = (ROOT / lock).read_text().splitlines()
    pinned_lines = [line for line in lines if re.match(r"^[A-Za-z0-9]", line)]
    pins = read_pins(ROOT / lock)
    assert len(pins) == len(pinned_lines) > 40
    assert all("==" in line for line in pinned_lines)
    assert pins["opentelemetry-sdk"] and pins["fastapi"]  # canonical names


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_of_the_lock_files_has_its_hashes(lock: str) -> None:
    """pip then checks every download against the lock (--require-hashes is implied)."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text())
    unhashed = [e.split()[0] for e in entries if "--hash=sha256:" not in e]
    assert not unhashed
