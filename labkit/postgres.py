"""A PostgreSQL cluster from the machine's own binaries (Debian's postgresql package).

One data directory, one port on loopback, a socket directory of its own. initdb refuses to run as
root, so as root every command runs as the `postgres` user. The native lab keeps a cluster with
passwords (scram-sha-256); the tests and benchmarks make a throw-away one (trust, no fsync).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from labkit.net import ServerUnavailable, wait_for_port
from labkit.processes import alive, log_tail

HOST = "127.0.0.1"
# Durability is not what tests and benchmarks measure; speed is welcome.
THROWAWAY_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def server_bindir() -> Path:
    """Where initdb, pg_ctl and psql are: pg_config's answer, else the newest
    /usr/lib/postgresql/*/bin."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise ServerUnavailable(
            "PostgreSQL server binaries (initdb) not found: apt-get install postgresql"
        )
    return Path(found[-1]).parent


def server_user() -> str | None:
    """The user the server runs as: `postgres` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServerUnavailable("running as root needs a `postgres` user for initdb") from exc
    return "postgres"


@dataclass
class Cluster:
    datadir: Path
    port: int
    socket_dir: Path
    log: Path
    settings: dict[str, str] = field(default_factory=dict)  # -c name=value at start
    bindir: Path = field(default_factory=server_bindir)
    run_as: str | None = field(default_factory=server_user)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if check and result.returncode:
            raise ServerUnavailable(f"{args[0]} failed: {result.stderr}{result.stdout}")
        return result

    def give_to_server(self, *paths: Path) -> None:
        """Let the server's user own these (it writes the data directory, socket and log)."""
        if self.run_as:
            for path in paths:
                shutil.chown(path, user=self.run_as)

    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def initdb(self, *, auth: str, password: str | None = None, fast: bool = False) -> None:
        """A new cluster whose superuser is `postgres`. The password, if any, reaches initdb in a
        file only the server's user reads, gone afterwards (never argv, which `ps` shows)."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.give_to_server(self.datadir)
        args = ["initdb", "-D", str(self.datadir), "-U", "postgres", f"--auth={auth}", "-E", "UTF8"]
        if fast:
            args.append("--no-sync")
        pwfile = self.datadir.parent / f".{self.datadir.name}-initdb-password"
        if password is not None:
            fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(password + "\n")
            self.give_to_server(pwfile)
            args.append(f"--pwfile={pwfile}")
        try:
            self.run(*args)
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> None:
        self.log.touch()
        self.give_to_server(self.log)
        options = " ".join(
            [
                f"-p {self.port} -k {self.socket_dir} -c listen_addresses={HOST}",
                *(f"-c {name}={value}" for name, value in self.settings.items()),
            ]
        )
        result = self.run(
            "pg_ctl", "-D", str(self.datadir), "-o", options, "-l", str(self.log), "-w", "start",
            check=False,
        )  # fmt: skip
        if result.returncode:
            # pg_ctl only says "examine the log output": say what the log says.
            raise ServerUnavailable(
                f"PostgreSQL did not start: {result.stderr}{result.stdout}\n"
                f"{self.log}:\n{log_tail(self.log)}"
            )
        wait_for_port(HOST, self.port)

    def stop(self) -> None:
        if self.pid() is not None:
            self.run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def pid(self) -> int | None:
        """The running postmaster's pid, from its own pid file."""
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive(pid) else None

    def psql(self, statement: str, *, user: str, password: str) -> str:
        """One statement over TCP; the password by environment, the statement on stdin (argv
        shows in `ps`). Returns the unaligned, tuples-only output."""
        result = subprocess.run(
            [str(self.bindir / "psql"), "-h", HOST, "-p", str(self.port), "-U", user,
             "-v", "ON_ERROR_STOP=1", "-tA"],
            input=statement,
            env={**os.environ, "PGPASSWORD": password},
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if result.returncode:
            raise ServerUnavailable(
                f"PostgreSQL refused {statement.split()[0]}: {result.stderr.strip()}"
            )
        return result.stdout.strip()
