"""The demo catalogue: deterministic, realistic enough to browse, and seeded idempotently."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from decimal import Decimal

from faultline.db import products as product_queries
from faultline.db.models import Product

DEFAULT_CATALOGUE_SIZE = 1200

_ADJECTIVES = [
    "Classic",
    "Compact",
    "Rugged",
    "Ergonomic",
    "Vintage",
    "Modern",
    "Heavy-Duty",
    "Lightweight",
    "Premium",
    "Everyday",
    "Foldable",
    "Insulated",
    "Handmade",
    "Waterproof",
    "Minimalist",
]
_MATERIALS = [
    "Oak",
    "Steel",
    "Cotton",
    "Leather",
    "Bamboo",
    "Ceramic",
    "Wool",
    "Copper",
    "Linen",
    "Walnut",
    "Aluminium",
    "Glass",
]
_NOUNS = [
    "Chair",
    "Lamp",
    "Backpack",
    "Kettle",
    "Notebook",
    "Mug",
    "Blanket",
    "Desk Organiser",
    "Water Bottle",
    "Headphone Stand",
    "Cutting Board",
    "Plant Pot",
    "Wallet",
    "Bookshelf",
    "Coffee Grinder",
    "Thermos",
]
_USES = ["the kitchen", "the office", "travel", "the garden", "a small flat", "long hikes"]


def catalogue(size: int = DEFAULT_CATALOGUE_SIZE) -> Iterator[Product]:
    """`size` products with stable skus: the same input gives the same catalogue every time."""
    names = itertools.cycle(itertools.product(_ADJECTIVES, _MATERIALS, _NOUNS))
    for index in range(1, size + 1):
        adjective, material, noun = next(names)
        rng = random.Random(index)
        price = Decimal(rng.randrange(250, 50_000)) / 100
        yield Product(
            sku=f"FL-{index:05d}",
            name=f"{adjective} {material} {noun}",
            description=(
                f"A {adjective.lower()} {noun.lower()} in {material.lower()}, made for "
                f"{rng.choice(_USES)}."
            ),
            price=price,
            stock=rng.randrange(200, 1000),
        )


async def seed(size: int = DEFAULT_CATALOGUE_SIZE) -> int:
    """Insert the catalogue's missing products; the number of products afterwards."""
    await product_queries.insert_missing(list(catalogue(size)))
    return await product_queries.count_products()
