from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Order",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("total", fields.DecimalField(max_digits=12, decimal_places=2)),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
                ("idempotency_key", fields.CharField(null=True, unique=True, max_length=200)),
                ("request_fingerprint", fields.CharField(null=True, max_length=64)),
            ],
            options={"table": "orders", "app": "shop", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Product",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("sku", fields.CharField(unique=True, max_length=32)),
                ("name", fields.CharField(db_index=True, max_length=200)),
                ("description", fields.TextField(unique=False)),
                ("price", fields.DecimalField(max_digits=12, decimal_places=2)),
                ("stock", fields.IntField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={"table": "products", "app": "shop", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="OrderItem",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "order",
                    fields.ForeignKeyField(
                        "shop.Order",
                        source_field="order_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="items",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "product",
                    fields.ForeignKeyField(
                        "shop.Product",
                        source_field="product_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="order_items",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("quantity", fields.IntField()),
                ("unit_price", fields.DecimalField(max_digits=12, decimal_places=2)),
            ],
            options={"table": "order_items", "app": "shop", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
