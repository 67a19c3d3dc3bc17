"""Order pricing and request fingerprints: pure service logic, no server."""

from decimal import Decimal

import pytest

from faultline.errors import InvalidRequest
from faultline.schemas import OrderIn
from faultline.services.orders import fingerprint, price_lines


def order(*lines: tuple[int, int]) -> OrderIn:
    return OrderIn.model_validate({"items": [{"product_id": p, "quantity": q} for p, q in lines]})


def test_total_is_exact_decimal_and_lines_sorted_by_product() -> None:
    lines, total = price_lines(order((9, 3), (2, 1)), {2: Decimal("0.10"), 9: Decimal("0.20")})
    assert lines == [(2, 1, Decimal("0.10")), (9, 3, Decimal("0.20"))]
    assert total == Decimal("0.70")  # 0.1 + 3 * 0.2, which is 0.7000000000000001 in floats


def test_total_rounds_half_up_to_cents() -> None:
    _, total = price_lines(order((1, 3)), {1: Decimal("0.335")})
    assert total == Decimal("1.01")  # 1.005 -> 1.01


def test_unknown_products_are_named() -> None:
    with pytest.raises(InvalidRequest) as caught:
        price_lines(order((1, 1), (7, 1), (3, 1)), {1: Decimal(1)})
    assert caught.value.details == [
        {"loc": ["body", "items"], "msg": "unknown product", "product_ids": [3, 7]}
    ]


def test_fingerprint_ignores_line_order_but_not_quantities() -> None:
    assert fingerprint(order((1, 2), (3, 4))) == fingerprint(order((3, 4), (1, 2)))
    assert fingerprint(order((1, 2))) != fingerprint(order((1, 3)))
    assert len(fingerprint(order((1, 2)))) == 64
