"""A Tortoise database engine: asyncpg with Faultline's bounded pool.

Tortoise imports an engine module and uses its `client_class`; the tortoise config names this
module as the engine (see faultline.db.config), so Tortoise builds `BoundedPool` for every query.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from faultline.config import Settings
from faultline.db.connection import FaultableConnection
from faultline.db.pool import create_bounded_pool

# faultline.db.config always passes both; a config without them gets the settings' defaults
# (defined once, in faultline.config).
DEFAULT_ACQUIRE_TIMEOUT_SECONDS: float = Settings.model_fields["db_acquire_timeout_seconds"].default
DEFAULT_WAIT_SPAN_THRESHOLD_SECONDS: float = Settings.model_fields[
    "db_pool_wait_span_threshold_seconds"
].default


class BoundedAsyncpgClient(AsyncpgDBClient):
    connection_class = FaultableConnection

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        acquire_timeout = float(kwargs.pop("acquire_timeout", DEFAULT_ACQUIRE_TIMEOUT_SECONDS))
        threshold = float(kwargs.pop("wait_span_threshold", DEFAULT_WAIT_SPAN_THRESHOLD_SECONDS))
        # Kept where the rest of the API finds it (faultline.db.pool.current_pool).
        self.bounded_pool = await create_bounded_pool(acquire_timeout, threshold, **kwargs)
        return self.bounded_pool


client_class = BoundedAsyncpgClient
