"""Real PostgreSQL and Redis servers for the tests.

Where they come from, in this order:
1. URLs in the environment: FAULTLINE_TEST_POSTGRES_URL (a superuser DSN; each test session
   creates its own database there) and FAULTLINE_TEST_REDIS_URL.
2. testcontainers, when a Docker engine answers (developers' laptops).
3. Local binaries (Debian's postgresql and redis-server), started on free ports in a temporary
   directory; PostgreSQL runs as the `postgres` user when the tests run as root (initdb refuses
   root). `make test` installs them on a fresh machine.
If none of these works the run fails with a message saying how to get them. It never skips.

Servers that the harness started itself can be stopped and started again (outage tests do that
for real); a server given by URL cannot, and asking it to is an error.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis

HOW_TO_GET_SERVERS = (
    "No PostgreSQL/Redis for the tests. Either set FAULTLINE_TEST_POSTGRES_URL and "
    "FAULTLINE_TEST_REDIS_URL, or start a Docker engine (testcontainers), or install the local "
    "servers: `apt-get install postgresql redis-server` (`make test` does this on Debian)."
)


class ServerUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServerUnavailable(f"nothing listening on {host}:{port} after {timeout}s")


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


def _postgres_bindir() -> Path | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


@dataclass
class LocalPostgres(Postgres):
    datadir: Path = field(default_factory=Path)
    bindir: Path = field(default_factory=Path)
    run_as: str | None = None
    workdir: Path = field(default_factory=Path)

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
            # Durability is not what these tests measure; speed is welcome.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self.workdir / "postgres.log"),
            "-w",
            "start",
        )
        wait_for_port(self.host, self.port)

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_local_postgres() -> LocalPostgres:
    bindir = _postgres_bindir()
    if bindir is None:
        raise ServerUnavailable("PostgreSQL server binaries (initdb) not found")
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerUnavailable("running as root needs a `postgres` user for initdb") from exc
        run_as = "postgres"
    workdir = Path(tempfile.mkdtemp(prefix="faultline-pg-"))
    if run_as:
        shutil.chown(workdir, user=run_as)
    port = free_port()
    server = LocalPostgres(
        host="127.0.0.1",
        port=port,
        admin_url=f"postgres://postgres@127.0.0.1:{port}/postgres",
        controllable=True,
        datadir=workdir / "data",
        bindir=bindir,
        run_as=run_as,
        workdir=workdir,
    )
    server._run(
        str(bindir / "initdb"),
        "-D",
        str(server.datadir),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    )
    server.start()
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
    binary: str = "redis-server"
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.host, self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def close(self) -> None:
        self.stop()


def start_local_redis() -> LocalRedis:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server not found")
    server = LocalRedis(host="127.0.0.1", port=free_port(), controllable=True, binary=binary)
    server.start()
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


@dataclass
class _Container:
    container: object

    def _restart(self, start: bool) -> None:
        wrapped = self.container.get_wrapped_container()  # type: ignore[attr-defined]
        wrapped.start() if start else wrapped.stop()


def start_container_postgres() -> Postgres:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    image = os.environ.get("POSTGRES_IMAGE", "postgres:18.1-alpine")
    container = DockerContainer(image).with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
    container = container.with_bind_ports(5432, free_port()).start()
    wait_for_logs(container, "database system is ready to accept connections", timeout=60)
    host, port = container.get_container_host_ip(), int(container.get_exposed_port(5432))
    wait_for_port(host, port)
    handle = _Container(container)

    class ContainerPostgres(Postgres):
        def stop(self) -> None:
            handle._restart(False)

        def start(self) -> None:
            handle._restart(True)
            wait_for_port(self.host, self.port)

        def close(self) -> None:
            container.stop()

    return ContainerPostgres(host, port, f"postgres://postgres@{host}:{port}/postgres", True)


def start_container_redis() -> Redis:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer

    image = os.environ.get("REDIS_IMAGE", "redis:8.2-alpine")
    # Fixed host port, so that a stopped and restarted container comes back on the same one.
    container = DockerContainer(image).with_bind_ports(6379, free_port()).start()
    host, port = container.get_container_host_ip(), int(container.get_exposed_port(6379))
    wait_for_port(host, port)
    handle = _Container(container)

    class ContainerRedis(Redis):
        def stop(self) -> None:
            handle._restart(False)

        def start(self) -> None:
            handle._restart(True)
            wait_for_port(self.host, self.port)

        def close(self) -> None:
            container.stop()

    return ContainerRedis(host, port, True)


# --------------------------------------------------------------------------------------------
# Choosing


def provide_postgres(*, controllable: bool = False) -> Postgres:
    """A PostgreSQL server. `controllable`: one the caller may stop and start (its own)."""
    url = os.environ.get("FAULTLINE_TEST_POSTGRES_URL")
    if url and not controllable:
        host_port = url.split("@")[-1].split("/")[0]
        host, _, port = host_port.partition(":")
        return Postgres(host=host, port=int(port or 5432), admin_url=url)
    errors = []
    if docker_available():
        try:
            return start_container_postgres()
        except Exception as exc:  # fall through to local binaries
            errors.append(f"testcontainers: {exc}")
    try:
        return start_local_postgres()
    except (ServerUnavailable, OSError, subprocess.SubprocessError) as exc:
        errors.append(f"local binaries: {exc}")
    raise ServerUnavailable(f"{HOW_TO_GET_SERVERS} ({'; '.join(errors)})")


def provide_redis(*, controllable: bool = False) -> Redis:
    url = os.environ.get("FAULTLINE_TEST_REDIS_URL")
    if url and not controllable:
        host_port = url.split("//")[-1].split("/")[0]
        host, _, port = host_port.partition(":")
        return Redis(host=host, port=int(port or 6379))
    errors = []
    if docker_available():
        try:
            return start_container_redis()
        except Exception as exc:
            errors.append(f"testcontainers: {exc}")
    try:
        return start_local_redis()
    except (ServerUnavailable, OSError, subprocess.SubprocessError) as exc:
        errors.append(f"local binaries: {exc}")
    raise ServerUnavailable(f"{HOW_TO_GET_SERVERS} ({'; '.join(errors)})")


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
