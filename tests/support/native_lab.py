"""The native lab as the tests drive it: scripts/lab.py (the command `make lab` runs) and the
suite's port offset. Its ports and configuration are read from labkit.native_lab, not repeated."""

from __future__ import annotations

from pathlib import Path

LAB_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lab.py"
# The suite's lab runs on ports shifted by this much (FAULTLINE_LAB_PORT_OFFSET), beside any lab
# of the developer's own.
TEST_PORT_OFFSET = 1000
