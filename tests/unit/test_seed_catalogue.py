"""The demo catalogue is deterministic and realistic."""

from decimal import Decimal

from faultline.seed import DEFAULT_CATALOGUE_SIZE, catalogue


def test_catalogue_is_large_unique_and_deterministic() -> None:
    products = list(catalogue())
    assert len(products) == DEFAULT_CATALOGUE_SIZE >= 1000
    assert len({p.sku for p in products}) == len(products)
    assert len({p.name for p in products}) == len(products)
    again = list(catalogue())
    assert [(p.sku, p.name, p.price, p.stock) for p in again] == [
        (p.sku, p.name, p.price, p.stock) for p in products
    ]


def test_prices_are_cents_and_stock_is_plentiful() -> None:
    for product in catalogue(300):
        assert Decimal("2.50") <= product.price < Decimal("500")
        assert product.price == product.price.quantize(Decimal("0.01"))
        assert 200 <= product.stock < 1000
        assert product.description.endswith(".")
