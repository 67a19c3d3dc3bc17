"""The names the API's telemetry really uses, read from its source: the events it logs (with
the fields each carries), its span names and span attributes. Tests check that what scenario
keys and dashboard links name exists."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "api" / "faultline"
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


def _trees() -> list[ast.Module]:
    return [ast.parse(path.read_text()) for path in sorted(SOURCE.rglob("*.py"))]


@cache
def logged_events() -> dict[str, set[str]]:
    """Each event the API logs (`log.warning("db.pool_exhausted", ...)`), with the fields of
    its calls. `(log.warning if ... else log.info)("request", ...)` counts too."""
    events: dict[str, set[str]] = {}
    for tree in _trees():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            methods = (
                [node.func]
                if not isinstance(node.func, ast.IfExp)
                else [node.func.body, node.func.orelse]
            )
            if all(isinstance(m, ast.Attribute) and m.attr in LOG_METHODS for m in methods):
                fields = {k.arg for k in node.keywords if k.arg}
                events.setdefault(first.value, set()).update(fields)
    return events


@cache
def string_constants() -> set[str]:
    """Every string literal in the API, and the literal start of every f-string (span names and
    attribute keys are among them)."""
    found: set[str] = set()
    for tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
            elif isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.Constant):
                found.add(f"{node.values[0].value}{{")
    return found
