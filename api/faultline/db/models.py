"""The shop's tables. Schema changes go through migrations (faultline/db/migrations)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

# Money: exact decimals, never floats. 12 digits, 2 after the point.
MONEY_DIGITS, MONEY_PLACES = 12, 2


class Product(Model):
    id = fields.IntField(primary_key=True)
    sku = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=200, db_index=True)
    description = fields.TextField()
    price = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    stock = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "products"


class Order(Model):
    id = fields.IntField(primary_key=True)
    total = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    # Set when the order was placed with an Idempotency-Key: a retry finds the first order here.
    idempotency_key = fields.CharField(max_length=200, null=True, unique=True)
    # SHA-256 of the normalised request, so a key reused for a different order is refused.
    request_fingerprint = fields.CharField(max_length=64, null=True)

    items: fields.ReverseRelation[OrderItem]

    class Meta:
        table = "orders"


class OrderItem(Model):
    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "shop.Order", related_name="items", on_delete=fields.CASCADE
    )
    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "shop.Product", related_name="order_items", on_delete=fields.RESTRICT
    )
    quantity = fields.IntField()
    unit_price = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)

    order_id: int
    product_id: int

    class Meta:
        table = "order_items"
