"""The Tortoise configuration, built from settings (one place; the app, the CLI and migrations)."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

from faultline.config import Settings, get_settings

MODELS_APP = "shop"


def tortoise_config(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    connection = expand_db_url(settings.database_url)
    connection["engine"] = "faultline.db.backend"
    connection["credentials"].update(
        {
            "minsize": settings.db_pool_min_size,
            "maxsize": settings.db_pool_max_size,
            # Everything below goes to asyncpg.create_pool.
            "acquire_timeout": settings.db_acquire_timeout_seconds,
            "wait_span_threshold": settings.db_pool_wait_span_threshold_seconds,
            "timeout": settings.db_connect_timeout_seconds,  # connect timeout
            "command_timeout": settings.db_statement_timeout_seconds,
            "server_settings": {"application_name": settings.service_name},
        }
    )
    return {
        "connections": {"default": connection},
        "apps": {
            MODELS_APP: {
                "models": ["faultline.db.models"],
                "default_connection": "default",
                "migrations": "faultline.db.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }
