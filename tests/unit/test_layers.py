"""The layout is the architecture: routes -> services -> data, with faults plugged into the seams
(faultline.hooks) rather than imported by the layers. Read from the source's imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from faultline.faults.catalogue import CATALOGUE

PACKAGE = Path(__file__).resolve().parents[2] / "api" / "faultline"

# What each layer must never import (a module prefix).
FORBIDDEN = {
    "routes": ("faultline.faults", "faultline.control", "faultline.db"),
    "services": ("faultline.faults", "faultline.control", "faultline.routes"),
    "db": ("faultline.faults", "faultline.control", "faultline.routes", "faultline.services"),
    "cache.py": ("faultline.faults", "faultline.control", "faultline.routes"),
    "hooks.py": ("faultline.",),
}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_dependencies_point_one_way(layer: str) -> None:
    target = PACKAGE / layer
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in sorted(imports_of(path))
        if name.startswith(FORBIDDEN[layer]) and name != "faultline.hooks"
    ]
    assert not wrong, wrong


def test_no_fault_is_looked_up_by_name_outside_the_catalogue() -> None:
    """Hooks get their fault's typed parameters; nothing in the shop asks for a fault by name
    (`.get("latency")`, `["latency"]`, `== "latency"`)."""
    names = "|".join(map(re.escape, CATALOGUE))
    lookup = re.compile(r"""(?:\.get\(|\[|==\s*|!=\s*)["'](""" + names + r""")["']""")
    outside = [
        f"{path.relative_to(PACKAGE)}: {match.group(0)}"
        for path in PACKAGE.rglob("*.py")
        if "faults" not in path.relative_to(PACKAGE).parts
        for match in lookup.finditer(path.read_text())
    ]
    assert not outside, outside


def test_each_fault_is_one_module_of_kinds() -> None:
    kinds = PACKAGE / "faults" / "kinds"
    modules = {p.stem for p in kinds.glob("*.py") if p.stem != "__init__"}
    assert modules == set(CATALOGUE)
    for name, spec in CATALOGUE.items():
        assert spec.params.__module__ == f"faultline.faults.kinds.{name}", name
