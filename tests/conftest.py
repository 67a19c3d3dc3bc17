"""Fixtures shared by every suite: the real PostgreSQL and Redis of the session (started on first
use, so the unit tests start none). Integration fixtures live in tests/integration/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labkit.servers import Postgres, Redis, servers


@pytest.fixture(scope="session")
def real_servers() -> Iterator[tuple[Postgres, Redis]]:
    with servers() as pair:
        yield pair


@pytest.fixture(scope="session")
def redis_server(real_servers: tuple[Postgres, Redis]) -> Redis:
    return real_servers[1]
