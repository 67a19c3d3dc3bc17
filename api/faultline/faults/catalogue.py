"""The fault catalogue: every module in `faultline.faults.kinds` that defines `FAULT`, in order of
position. The one list of what can be broken: the control API, the console's form, the fault
store's checks, the docs and the tests read it; nothing repeats it.
"""

from __future__ import annotations

import importlib
import pkgutil

from faultline.faults import kinds
from faultline.faults.spec import AnySpec, FaultSpec

DEFAULT_TTL_SECONDS = 15 * 60
MAX_TTL_SECONDS = 2 * 60 * 60


def discover() -> dict[str, AnySpec]:
    specs: list[AnySpec] = []
    for module in pkgutil.iter_modules(kinds.__path__):
        spec = getattr(importlib.import_module(f"{kinds.__name__}.{module.name}"), "FAULT", None)
        if not isinstance(spec, FaultSpec):
            raise TypeError(
                f"faultline.faults.kinds.{module.name} defines no FAULT = FaultSpec(...)"
            )
        if spec.name != module.name:
            raise ValueError(f"faultline.faults.kinds.{module.name} names its fault {spec.name!r}")
        specs.append(spec)
    return {spec.name: spec for spec in sorted(specs, key=lambda s: (s.position, s.name))}


CATALOGUE: dict[str, AnySpec] = discover()
