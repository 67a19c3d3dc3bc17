"""Validation rules that need no server: order bodies and settings."""

import pytest
from pydantic import ValidationError

from faultline.config import Settings
from faultline.schemas import MAX_ITEMS_PER_ORDER, MAX_QUANTITY_PER_ITEM, OrderIn


def test_lines_for_one_product_are_added_up() -> None:
    """The schema allows two lines for one product (it cannot say "unique by product_id"), so
    the API must not refuse them: they become one line."""
    order = OrderIn.model_validate(
        {
            "items": [
                {"product_id": 1, "quantity": 1},
                {"product_id": 2, "quantity": 1},
                {"product_id": 1, "quantity": MAX_QUANTITY_PER_ITEM},
            ]
        }
    )
    assert [(i.product_id, i.quantity) for i in order.items] == [
        (1, 1 + MAX_QUANTITY_PER_ITEM),
        (2, 1),
    ]


@pytest.mark.parametrize(
    "item",
    [
        {"product_id": 1, "quantity": 0},
        {"product_id": 1, "quantity": MAX_QUANTITY_PER_ITEM + 1},
        {"product_id": 0, "quantity": 1},
        {"product_id": 2**31, "quantity": 1},
        {"product_id": 1, "quantity": 1, "extra": True},
    ],
)
def test_order_item_bounds(item: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OrderIn.model_validate({"items": [item]})


def test_order_size_bounds() -> None:
    lines = [{"product_id": i, "quantity": 1} for i in range(1, MAX_ITEMS_PER_ORDER + 1)]
    assert len(OrderIn.model_validate({"items": lines}).items) == MAX_ITEMS_PER_ORDER
    with pytest.raises(ValidationError):
        OrderIn.model_validate({"items": [*lines, {"product_id": 999, "quantity": 1}]})
    with pytest.raises(ValidationError):
        OrderIn.model_validate({"items": []})


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/shop")
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "3")
    monkeypatch.setenv("ENVIRONMENT", "production")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql://u:p@db:5432/shop"
    assert settings.db_pool_max_size == 3
    assert settings.docs_enabled is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://u@db/shop"),
        ("DB_POOL_MAX_SIZE", "0"),
        ("DB_ACQUIRE_TIMEOUT_SECONDS", "-1"),
        ("ENVIRONMENT", "staging"),
        ("REDIS_URL", "not a url"),
    ],
)
def test_bad_settings_fail_at_startup(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_body_integers_are_json_schema_integers() -> None:
    """3 and 3.0 are integers (as JSON Schema says); true and "3" are not (found by
    schemathesis: the control service took `false` for 0)."""
    from faultline.faults.kinds.cache_outage import CacheOutageParams
    from faultline.schemas import OrderItemIn

    assert OrderItemIn.model_validate({"product_id": 3.0, "quantity": 2}).product_id == 3
    assert CacheOutageParams.model_validate({"failure_delay_ms": 10.0}).failure_delay_ms == 10
    for bad in (True, False, "3", 2.5):
        with pytest.raises(ValidationError):
            CacheOutageParams.model_validate({"failure_delay_ms": bad})
        with pytest.raises(ValidationError):
            OrderItemIn.model_validate({"product_id": 3, "quantity": bad})
