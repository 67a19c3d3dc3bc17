"""compose.yaml, parsed once for the stack checks."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.stack_files import COMPOSE


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))
