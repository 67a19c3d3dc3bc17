"""Private names of dependencies are used only in faultline.seams, and what each seam relies on is
still there in the installed versions (an upgrade that moves it fails here, loudly)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import asyncpg
import asyncpg.pool
import pytest

import faultline
from faultline.seams import asyncpg as asyncpg_seam
from faultline.telemetry.export import GuardedOtlpLogExporter

PACKAGE = Path(faultline.__file__).parent
SEAMS = PACKAGE / "seams"


def private(name: str) -> bool:
    """`_name`, not `__dunder__` or enum's `_sunder_` names (public hooks of the language)."""
    return name.startswith("_") and not name.endswith("_")


def violations(source: str) -> list[str]:
    """Private names of other packages in one module: `_private` modules or names imported,
    `obj._private` read on anything but self/cls, `super()._private()`, getattr(x, "_private")."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("faultline"):
                continue
            if any(private(part) for part in node.module.split(".")):
                found.append(f"{line}: from {node.module} import ...")
            found += [f"{line}: import {a.name}" for a in node.names if private(a.name)]
        elif isinstance(node, ast.Import):
            found += [
                f"{line}: import {a.name}"
                for a in node.names
                if any(private(part) for part in a.name.split("."))
            ]
        elif isinstance(node, ast.Attribute) and private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in {"self", "cls"}:
                continue
            found.append(f"{line}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
        ):
            found.append(f"{line}: {ast.unparse(node)}")
    return found


def modules_outside_seams() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if SEAMS not in p.parents]


def test_nothing_outside_the_seams_uses_a_dependency_private_name() -> None:
    problems = [
        f"{path.relative_to(PACKAGE.parent)}:{v}"
        for path in modules_outside_seams()
        for v in violations(path.read_text())
    ]
    assert not problems, "move these into faultline/seams:\n" + "\n".join(problems)


def test_nothing_outside_the_seams_overrides_a_dependency_private_method() -> None:
    problems = []
    for info in pkgutil.walk_packages(faultline.__path__, "faultline."):
        if info.name.startswith("faultline.seams") or "migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            for name, value in vars(cls).items():
                if not (private(name) and inspect.isfunction(value)):  # methods written here
                    continue
                owners = [
                    base.__module__
                    for base in cls.__mro__[1:]
                    if name in vars(base) and not base.__module__.startswith("faultline")
                ]
                if owners:
                    problems.append(f"{info.name}.{cls.__name__}.{name} overrides {owners[0]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("from opentelemetry.sdk._logs import LoggerProvider", True),
        ("from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY", True),
        ("pool = connection._pool", True),
        ("await super()._acquire(limit)", True),
        ('getattr(client, "_pool", None)', True),
        ("self._acquired_at = {}", False),
        ("from faultline.seams.opentelemetry import LogRecordExporter", False),
    ],
)
def test_the_rule_catches_what_it_should(source: str, caught: bool) -> None:
    assert bool(violations(source)) is caught


# What each seam relies on, in the installed versions.


def test_asyncpg_still_acquires_every_pool_connection_through_one_method() -> None:
    assert list(inspect.signature(asyncpg.Pool._acquire).parameters) == ["self", "timeout"]
    # Pool.acquire's context manager and its direct await both end in Pool._acquire.
    assert "self.pool._acquire(" in inspect.getsource(asyncpg.pool.PoolAcquireContext)
    assert asyncpg_seam.Pool._acquire is not asyncpg.Pool._acquire


def test_asyncpg_still_runs_every_statement_through_one_method() -> None:
    parameters = list(inspect.signature(asyncpg.Connection._execute).parameters)
    assert parameters[:5] == ["self", "query", "args", "limit", "timeout"]
    for method in ("execute", "fetch", "fetchrow", "fetchval"):
        source = inspect.getsource(getattr(asyncpg.Connection, method))
        assert "self._execute(" in source or "self._do_execute(" in source, method
    # execute() with arguments goes through _execute; without, through the simple query protocol.
    assert "self._execute(" in inspect.getsource(asyncpg.Connection.execute)


def test_the_logs_sdk_still_has_the_exporter_interface_the_configurator_checks() -> None:
    from opentelemetry.sdk._logs.export import LogRecordExporter

    assert issubclass(GuardedOtlpLogExporter, LogRecordExporter)
