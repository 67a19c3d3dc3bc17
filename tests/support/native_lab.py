"""scripts/lab.py (the native lab) as a module, so tests read its ports and configuration instead
of repeating them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LAB_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lab.py"
# The suite's lab runs on ports shifted by this much (FAULTLINE_LAB_PORT_OFFSET), beside any lab
# of the developer's own.
TEST_PORT_OFFSET = 1000


def lab_script() -> ModuleType:
    """The module, loaded once per test session."""
    module = sys.modules.get("faultline_lab")
    if module is None:
        spec = importlib.util.spec_from_file_location("faultline_lab", LAB_SCRIPT)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["faultline_lab"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return module
