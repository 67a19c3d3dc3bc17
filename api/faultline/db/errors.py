"""Database failures the HTTP layer turns into 503s (not 500s): the dependency is down, not us."""

import asyncpg
from tortoise.exceptions import DBConnectionError


class PoolAcquireTimeout(Exception):
    """No pool connection became free within the acquire timeout (the pool is exhausted)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"no database connection free within {timeout:g}s")
        self.timeout = timeout


# Errors that mean "PostgreSQL cannot be reached or went away", as opposed to a bad query.
DB_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    DBConnectionError,
    ConnectionError,  # refused / reset while connecting
    OSError,  # unreachable host, DNS failure
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # connection closed under us (server stopped mid-query)
    asyncpg.CannotConnectNowError,  # server starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    # A connection whose server session was terminated mid-operation (PostgreSQL stopped under
    # load) can fail its next call with "cannot switch to state ...; another operation is in
    # progress" (MagicStack/asyncpg#1069). Found by the mid-load outage test as 500s.
    asyncpg.InternalClientError,
)
