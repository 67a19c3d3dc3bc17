"""Data integrity while faults are on: nothing acknowledged is lost, nothing is ordered twice.

Shoppers place orders concurrently against the real API process (uvicorn, real PostgreSQL and
Redis) through phases with a fault on each: errors, latency (with client timeouts shorter than the
delay, so clients retry while the first attempt is still running), pool exhaustion, lock
contention, then several at once. Every order carries an Idempotency-Key and clients retry 5xx,
timeouts and dropped connections with the same key, as a careful client would.

Afterwards the database is checked against what the clients were told:
  - every order acknowledged with 201 exists exactly once, with the items, unit prices and total
    the client was told; every 201 for the same key names the same order;
  - a key answered with 409 (out of stock) has no order;
  - stock is never negative, and stock is conserved: start + restocked - now = quantities ordered.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from tests.hardening.conftest import Faults, HardeningApi
from tests.support.figures import record

PRODUCTS = 8
STOCK_PER_PHASE = 150
SHOPPERS = 12
PHASE_SECONDS = 5.0
CLIENT_TIMEOUT_S = 1.5  # above the API's acquire timeout (1 s), below the slowest faults
MAX_ATTEMPTS = 8

PHASES: list[tuple[str, dict[str, dict[str, Any]]]] = [
    ("errors", {"errors": {"probability": 0.3}}),
    ("latency", {"latency": {"delay_ms": 500, "jitter_ms": 2000}}),
    # The whole pool (max_leaked defaults to more than its size): with one connection left, a
    # fast machine served every order within the acquire timeout and the fault never bit.
    ("pool_exhaustion", {"pool_exhaustion": {}}),
    ("lock_contention", {"lock_contention": {"hold_ms": 250}}),
    (
        "combined",
        {
            "errors": {"probability": 0.15},
            "latency": {"delay_ms": 200, "jitter_ms": 1800},
            "lock_contention": {"hold_ms": 100},
        },
    ),
]


@dataclass
class Outcome:
    lines: list[tuple[int, int]]  # (product_id, quantity), sorted
    statuses: list[int | str] = field(default_factory=list)  # per attempt; str = transport error
    orders: list[dict[str, Any]] = field(default_factory=list)  # every 201 body
    replayed: int = 0

    @property
    def final(self) -> int | str:
        return self.statuses[-1] if self.statuses else "none"


async def shopper(
    http: httpx.AsyncClient, product_ids: list[int], until: float, outcomes: dict[str, Outcome]
) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        chosen = random.sample(product_ids, random.randint(1, 3))
        lines = sorted((pid, random.randint(1, 3)) for pid in chosen)
        key = f"hardening-{uuid.uuid4()}"
        outcome = outcomes[key] = Outcome(lines)
        body = {"items": [{"product_id": p, "quantity": q} for p, q in lines]}
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = await http.post(
                    "/api/v1/orders", json=body, headers={"Idempotency-Key": key}
                )
            except httpx.TransportError as exc:  # timeout, reset: the outcome is unknown
                outcome.statuses.append(type(exc).__name__)
            else:
                outcome.statuses.append(response.status_code)
                if response.status_code == 201:
                    outcome.orders.append(response.json())
                    outcome.replayed += response.headers.get("idempotent-replayed") == "true"
                    break
                if response.status_code < 500:
                    break  # 409 out of stock, or a client error the test will flag
            await asyncio.sleep(min(0.05 * 2**attempt, 0.8))


async def top_up(connection: asyncpg.Connection, product_ids: list[int]) -> int:
    """Bring each product back to STOCK_PER_PHASE; returns the units added."""
    rows = await connection.fetch(
        "UPDATE products p SET stock = $2 FROM (SELECT id, stock FROM products WHERE id = ANY($1)"
        " FOR UPDATE) old WHERE p.id = old.id RETURNING $2 - old.stock AS added",
        product_ids,
        STOCK_PER_PHASE,
    )
    return sum(int(r["added"]) for r in rows)


async def test_orders_stay_consistent_under_faults(
    hardening_api: HardeningApi, faults: Faults
) -> None:
    connection = await asyncpg.connect(hardening_api.database_url)
    try:
        product_ids = []
        for n in range(PRODUCTS):
            product_ids.append(
                await connection.fetchval(
                    "INSERT INTO products (sku, name, description, price, stock, created_at,"
                    " updated_at) VALUES ($1, $2, 'integrity test', $3, 0, now(), now())"
                    " RETURNING id",
                    f"H-{uuid.uuid4().hex[:12]}",
                    f"Integrity product {n}",
                    Decimal("3.17") * (n + 1),
                )
            )
        prices = {
            r["id"]: r["price"]
            for r in await connection.fetch(
                "SELECT id, price FROM products WHERE id = ANY($1)", product_ids
            )
        }
        restocked = 0
        outcomes: dict[str, Outcome] = {}
        per_phase: dict[str, Counter[str]] = {}
        async with httpx.AsyncClient(
            base_url=hardening_api.url,
            timeout=CLIENT_TIMEOUT_S,
            limits=httpx.Limits(max_connections=SHOPPERS * 2),
        ) as http:
            for phase, phase_faults in PHASES:
                restocked += await top_up(connection, product_ids)
                for name, params in phase_faults.items():
                    await faults.on(name, **params)
                before = set(outcomes)
                until = asyncio.get_running_loop().time() + PHASE_SECONDS
                await asyncio.gather(
                    *(shopper(http, product_ids, until, outcomes) for _ in range(SHOPPERS))
                )
                await faults.heal()
                mine = [outcomes[k] for k in set(outcomes) - before]
                per_phase[phase] = Counter(str(s) for o in mine for s in o.statuses) + Counter(
                    f"final {o.final}" for o in mine
                )
        # Attempts abandoned by their client may still be running on the server: let them end.
        await asyncio.sleep(3)

        rows = await connection.fetch(
            "SELECT o.id, o.total, o.idempotency_key, i.product_id, i.quantity, i.unit_price"
            " FROM orders o JOIN order_items i ON i.order_id = o.id"
            " WHERE i.product_id = ANY($1) OR o.idempotency_key LIKE 'hardening-%'"
            " ORDER BY o.id, i.product_id",
            product_ids,
        )
        stock = {
            r["id"]: r["stock"]
            for r in await connection.fetch(
                "SELECT id, stock FROM products WHERE id = ANY($1)", product_ids
            )
        }
    finally:
        await connection.close()

    in_db: dict[str, dict[str, Any]] = {}
    for row in rows:
        order = in_db.setdefault(
            row["idempotency_key"], {"id": row["id"], "total": row["total"], "lines": []}
        )
        assert order["id"] == row["id"], f"key {row['idempotency_key']} has two orders"
        order["lines"].append((row["product_id"], row["quantity"], row["unit_price"]))

    acknowledged = {k: o for k, o in outcomes.items() if o.orders}
    problems: list[str] = []
    for key, outcome in acknowledged.items():
        ids = {o["id"] for o in outcome.orders}
        if len(ids) != 1:
            problems.append(f"{key}: 201s named different orders {ids}")
        stored = in_db.get(key)
        if stored is None:
            problems.append(f"{key}: acknowledged order {ids} is not in the database")
            continue
        told = outcome.orders[0]
        if stored["id"] != told["id"]:
            problems.append(f"{key}: told order {told['id']}, database has {stored['id']}")
        if [(p, q) for p, q, _ in stored["lines"]] != outcome.lines:
            problems.append(f"{key}: items {stored['lines']} differ from {outcome.lines}")
        if any(price != prices[p] for p, _, price in stored["lines"]):
            problems.append(f"{key}: unit prices {stored['lines']} differ from {prices}")
        expected_total = sum(q * prices[p] for p, q in outcome.lines)
        if not stored["total"] == Decimal(told["total"]) == expected_total:
            problems.append(f"{key}: totals {stored['total']}, {told['total']}, {expected_total}")
    for key, outcome in outcomes.items():
        if outcome.final == 409 and key in in_db:
            problems.append(f"{key}: answered 409 (out of stock) but the order exists")
        unexpected = [s for s in outcome.statuses if isinstance(s, int) and s not in (201, 409)]
        if any(s < 500 for s in unexpected):
            problems.append(f"{key}: unexpected client error {outcome.statuses}")
    assert not problems, "\n".join(problems[:20])

    ordered = Counter[int]()
    for order in in_db.values():
        for product_id, quantity, _ in order["lines"]:
            ordered[product_id] += quantity
    assert min(stock.values()) >= 0
    start = 0  # products were created with no stock; top_up added everything they had
    assert start + restocked - sum(stock.values()) == sum(ordered.values())
    for product_id in product_ids:
        assert stock[product_id] >= 0

    statuses = Counter(str(s) for o in outcomes.values() for s in o.statuses)
    committed_unacknowledged = sorted(set(in_db) - set(acknowledged))
    figures = {
        "orders_attempted": len(outcomes),
        "requests_sent": sum(len(o.statuses) for o in outcomes.values()),
        "acknowledged_201": len(acknowledged),
        "replayed_201": sum(o.replayed for o in outcomes.values()),
        "out_of_stock_409": sum(o.final == 409 for o in outcomes.values()),
        "gave_up_after_retries": sum(not o.orders and o.final != 409 for o in outcomes.values()),
        "committed_but_client_gave_up": len(committed_unacknowledged),
        "orders_in_database": len(in_db),
        "units_restocked": restocked,
        "units_ordered": sum(ordered.values()),
        "units_left": sum(stock.values()),
        "responses_by_status": dict(statuses),
        "by_phase": {p: dict(c) for p, c in per_phase.items()},
        "lost_or_duplicated": 0,
    }
    record("integrity_under_faults", figures)
    # The faults really bit: each phase saw failures, and orders still got through.
    assert all(
        any(not k.startswith(("201", "409", "final")) for k in c) for c in per_phase.values()
    ), {phase: dict(c) for phase, c in per_phase.items()}
    assert len(acknowledged) > 100 and figures["replayed_201"] > 0, figures
