"""Schemathesis hooks (loaded with SCHEMATHESIS_HOOKS=tests.hardening.schemathesis_hooks).

One adjustment, and why: an Idempotency-Key names one order. Schemathesis draws header values
from a small pool, so it sends the same key with different bodies, which the API rightly refuses
(422 `idempotency_key_reused`, as the IETF Idempotency-Key draft says). A real client makes a new
key per order, so a valid generated key gets a unique suffix here; invalid keys (negative cases)
are left as drawn. Key reuse has its own tests (tests/integration/test_orders.py).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,160}$")


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _VALID_KEY.match(key):
        headers["Idempotency-Key"] = f"{key}-{uuid.uuid4().hex}"
