"""Integrity the database enforces itself, whatever the application does: stock never goes
negative, order quantities are positive. Also an index for the "recent orders" listing."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]

    operations = [
        ops.RunSQL(
            sql=[
                "ALTER TABLE products ADD CONSTRAINT products_stock_nonnegative CHECK (stock >= 0)",
                "ALTER TABLE products ADD CONSTRAINT products_price_positive CHECK (price > 0)",
                "ALTER TABLE order_items ADD CONSTRAINT order_items_quantity_positive "
                "CHECK (quantity > 0)",
                "CREATE INDEX order_items_order_id_idx ON order_items (order_id)",
            ],
            reverse_sql=[
                "DROP INDEX order_items_order_id_idx",
                "ALTER TABLE order_items DROP CONSTRAINT order_items_quantity_positive",
                "ALTER TABLE products DROP CONSTRAINT products_price_positive",
                "ALTER TABLE products DROP CONSTRAINT products_stock_nonnegative",
            ],
        ),
    ]
