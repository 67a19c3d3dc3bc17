"""Real PostgreSQL and Redis servers for the tests and the benchmarks.

Where they come from, in this order:
1. URLs in the environment: FAULTLINE_TEST_POSTGRES_URL (a superuser DSN; each test session
   creates its own database there) and FAULTLINE_TEST_REDIS_URL.
2. testcontainers, when a Docker engine answers (developers' laptops).
3. Local binaries (Debian's postgresql and redis-server), started on free ports in a temporary
   directory by labkit.postgres and labkit.redis, as the native lab starts them. `make test`
   installs them on a fresh machine.
If none of these works the run fails with a message saying how to get them. It never skips.

Servers that the harness started itself can be stopped and started again (outage tests do that
for real); a server given by URL cannot, and asking it to is an error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import redis

from labkit.net import ServerUnavailable, free_port, wait_for_port
from labkit.postgres import HOST, THROWAWAY_SETTINGS, Cluster
from labkit.redis import redis_command, write_config
from labkit.settings import setting

T = TypeVar("T")
HOW_TO_GET_SERVERS = (
    "No PostgreSQL/Redis for the tests. Either set FAULTLINE_TEST_POSTGRES_URL and "
    "FAULTLINE_TEST_REDIS_URL, or start a Docker engine (testcontainers), or install the local "
    "servers: `apt-get install postgresql redis-server` (`make test` does this on Debian)."
)


# --------------------------------------------------------------------------------------------
# PostgreSQL


@dataclass
class Postgres:
    """A PostgreSQL server: `admin_url` is a superuser DSN."""

    host: str
    port: int
    admin_url: str
    controllable: bool = False

    def stop(self) -> None:
        raise ServerUnavailable("this PostgreSQL was given by URL; the tests cannot stop it")

    def start(self) -> None:
        raise ServerUnavailable("this PostgreSQL was given by URL; the tests cannot start it")

    def close(self) -> None:
        pass

    def database_url(self, database: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + database

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.database_url(name)


@dataclass
class LocalPostgres(Postgres):
    """A throw-away cluster in a temporary directory (labkit.postgres), removed by close()."""

    cluster: Cluster | None = None
    workdir: Path = field(default_factory=Path)

    def start(self) -> None:
        assert self.cluster is not None
        self.cluster.start()

    def stop(self) -> None:
        assert self.cluster is not None
        self.cluster.stop()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_local_postgres() -> LocalPostgres:
    workdir = Path(tempfile.mkdtemp(prefix="faultline-pg-"))
    port = free_port()
    cluster = Cluster(
        datadir=workdir / "data",
        port=port,
        socket_dir=workdir,
        log=workdir / "postgres.log",
        settings=THROWAWAY_SETTINGS,
    )
    cluster.give_to_server(workdir)
    server = LocalPostgres(
        host=HOST,
        port=port,
        admin_url=f"postgres://postgres@{HOST}:{port}/postgres",
        controllable=True,
        cluster=cluster,
        workdir=workdir,
    )
    try:
        cluster.initdb(auth="trust", fast=True)
        cluster.start()
    except BaseException:
        server.close()
        raise
    return server


# --------------------------------------------------------------------------------------------
# Redis


@dataclass
class Redis:
    host: str
    port: int
    controllable: bool = False

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def stop(self) -> None:
        raise ServerUnavailable("this Redis was given by URL; the tests cannot stop it")

    def start(self) -> None:
        raise ServerUnavailable("this Redis was given by URL; the tests cannot start it")

    def close(self) -> None:
        pass

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_timeout=2)


@dataclass
class LocalRedis(Redis):
    """redis-server from a config in a temporary directory (labkit.redis), removed by close()."""

    workdir: Path = field(default_factory=Path)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = write_config(self.workdir / "redis.conf", self.port)
        self.process = subprocess.Popen(
            redis_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.host, self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_local_redis() -> LocalRedis:
    workdir = Path(tempfile.mkdtemp(prefix="faultline-redis-"))
    server = LocalRedis(host=HOST, port=free_port(), controllable=True, workdir=workdir)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


# --------------------------------------------------------------------------------------------
# testcontainers (only where a Docker engine answers; never on the CI machines of this project)


def docker_available() -> bool:
    """True when a Docker engine answers (the client alone, as on these machines, is not enough).

    Probed with a plain socket: docker-py's constructor leaks its socket when the engine is absent.
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            name, _, port = host.removeprefix("tcp://").partition(":")
            address = (name, int(port or 2375))
        else:
            return False
        with sock:
            sock.settimeout(2)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


class _InContainer:
    """Stop, start and remove for a server in a testcontainers container (docker-py underneath)."""

    container: Any
    host: str
    port: int

    def stop(self) -> None:
        self.container.get_wrapped_container().stop()

    def start(self) -> None:
        self.container.get_wrapped_container().start()
        wait_for_port(self.host, self.port)

    def close(self) -> None:
        self.container.stop()


@dataclass
class ContainerPostgres(_InContainer, Postgres):
    container: Any = None


@dataclass
class ContainerRedis(_InContainer, Redis):
    container: Any = None


def start_container_postgres() -> Postgres:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    image = setting("POSTGRES_IMAGE")  # the stack's pin
    container = DockerContainer(image).with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
    container = container.with_bind_ports(5432, free_port()).start()
    wait_for_logs(container, "database system is ready to accept connections", timeout=60)
    host, port = container.get_container_host_ip(), int(container.get_exposed_port(5432))
    wait_for_port(host, port)
    admin_url = f"postgres://postgres@{host}:{port}/postgres"
    return ContainerPostgres(host, port, admin_url, controllable=True, container=container)


def start_container_redis() -> Redis:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer

    image = setting("REDIS_IMAGE")
    # Fixed host port, so that a stopped and restarted container comes back on the same one.
    container = DockerContainer(image).with_bind_ports(6379, free_port()).start()
    host, port = container.get_container_host_ip(), int(container.get_exposed_port(6379))
    wait_for_port(host, port)
    return ContainerRedis(host, port, controllable=True, container=container)


# --------------------------------------------------------------------------------------------
# Choosing


def _first_that_starts(container: Callable[[], T], local: Callable[[], T]) -> T:
    """testcontainers where a Docker engine answers, else (or if that fails) local binaries."""
    starters = [("local binaries", local)]
    if docker_available():
        starters.insert(0, ("testcontainers", container))
    errors = []
    for how, start in starters:
        try:
            return start()
        except Exception as exc:  # the next way, and every reason in the message
            errors.append(f"{how}: {exc}")
    raise ServerUnavailable(f"{HOW_TO_GET_SERVERS} ({'; '.join(errors)})")


def provide_postgres(*, controllable: bool = False) -> Postgres:
    """A PostgreSQL server. `controllable`: one the caller may stop and start (its own)."""
    url = os.environ.get("FAULTLINE_TEST_POSTGRES_URL")
    if url and not controllable:
        given = urlsplit(url)
        return Postgres(host=given.hostname or HOST, port=given.port or 5432, admin_url=url)
    return _first_that_starts(start_container_postgres, start_local_postgres)


def provide_redis(*, controllable: bool = False) -> Redis:
    """A Redis server. `controllable`: one the caller may stop and start (its own)."""
    url = os.environ.get("FAULTLINE_TEST_REDIS_URL")
    if url and not controllable:
        given = urlsplit(url)
        return Redis(host=given.hostname or HOST, port=given.port or 6379)
    return _first_that_starts(start_container_redis, start_local_redis)


@contextlib.contextmanager
def servers(*, controllable: bool = False) -> Iterator[tuple[Postgres, Redis]]:
    postgres = provide_postgres(controllable=controllable)
    try:
        redis_server = provide_redis(controllable=controllable)
    except BaseException:
        postgres.close()
        raise
    try:
        yield postgres, redis_server
    finally:
        redis_server.close()
        postgres.close()
