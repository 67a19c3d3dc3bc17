"""Statement timing with bounded label values: the SQL verb and "<verb> <table>".

Labels must never carry parameters or free text (cardinality, secrets), so the table is kept only
when it is one of the shop's own; anything else is "other".
"""

from __future__ import annotations

import re
from functools import lru_cache

from faultline.telemetry.metrics import DB_OPERATION_DURATION

KNOWN_TABLES = frozenset({"products", "orders", "order_items", "tortoise_migrations"})
KNOWN_OPERATIONS = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
)
_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+"?([a-z_][a-z0-9_]*)"?', re.IGNORECASE)
# Statements the slow_queries and lock_contention faults inject.
FAULT_SLEEP = "fault pg_sleep"
# What asyncpg runs when a connection goes back to the pool; not a query of the shop's.
_POOL_RESET_MARKER = "pg_advisory_unlock_all"


@lru_cache(maxsize=1024)
def classify(sql: str) -> tuple[str, str] | None:
    """(db.operation.name, db.query.summary) for a statement; None for the pool's housekeeping."""
    if _POOL_RESET_MARKER in sql:
        return None
    if "pg_sleep" in sql:
        return "SELECT", FAULT_SLEEP
    words = sql.lstrip().split(None, 1)
    operation = words[0].upper().rstrip(";") if words else "OTHER"
    if operation not in KNOWN_OPERATIONS:
        operation = "OTHER"
    match = _TABLE.search(sql)
    table = match.group(1).lower() if match else None
    if table not in KNOWN_TABLES:
        table = "other" if match else None
    name = f"{operation.lower()} {table}" if table else operation.lower()
    return operation, name


def record_query(record: object) -> None:
    """asyncpg query-logger callback: one histogram observation per statement."""
    classified = classify(record.query)  # type: ignore[attr-defined]
    if classified is not None:
        DB_OPERATION_DURATION.labels(*classified).observe(record.elapsed)  # type: ignore[attr-defined]
