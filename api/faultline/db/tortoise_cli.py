"""Entry point for Tortoise's own CLI (`faultline makemigrations` uses it).

Tortoise's CLI reads a module-level config object; only the CLI imports this module, so building
settings here at import time never happens inside the app.
"""

from faultline.db.config import tortoise_config

TORTOISE_ORM = tortoise_config()
