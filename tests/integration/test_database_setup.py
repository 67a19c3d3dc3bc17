"""Migrations describe the models exactly, and seeding is idempotent."""

import os

from faultline.db.models import Product
from labkit.api import faultline_cli


async def test_models_and_migrations_agree(database_url: str) -> None:
    out = faultline_cli("makemigrations", env={"DATABASE_URL": database_url})
    assert "No changes detected" in out


async def test_migrate_twice_is_a_no_op(database_url: str) -> None:
    faultline_cli("migrate", env={"DATABASE_URL": database_url})


async def test_seed_is_idempotent_and_realistic(database_url: str, app: object) -> None:
    env = {"DATABASE_URL": database_url}
    before = await Product.filter(sku__startswith="FL-").count()
    out = faultline_cli("seed", "--size", "1000", env=env)
    after = await Product.filter(sku__startswith="FL-").count()
    assert after == 1000 and before < after
    faultline_cli("seed", "--size", "1000", env=env)
    assert await Product.filter(sku__startswith="FL-").count() == 1000
    assert "products" in out
    names = await Product.filter(sku__startswith="FL-").values_list("name", flat=True)
    assert len(set(names)) >= 1000 * 0.9
    assert os.environ.get("DATABASE_URL") != database_url  # the app under test was not touched
