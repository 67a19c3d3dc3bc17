"""Input types that mean what JSON Schema means, for request bodies (models with strict=True).

JSON Schema's "integer" is any number with no fractional part, so 3 and 3.0 are both integers,
while true and "3" are not. Pydantic's lax mode takes all four; its strict mode refuses 3.0.
JsonInt takes exactly the JSON Schema integers (found by schemathesis: a control body with
`"failure_delay_ms": false` was accepted as 0).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _integral_float_to_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # bools and strings go on to strict int validation, which refuses them


JsonInt = Annotated[int, BeforeValidator(_integral_float_to_int)]
