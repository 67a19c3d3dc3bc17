"""The native lab: the Faultline lab as local processes, for machines with no Docker engine.

    python scripts/lab.py up       start what is not running yet, wait until ready, print URLs
    python scripts/lab.py down     stop exactly what `up` started
    python scripts/lab.py status   each component: running, stopped or crashed

Same binaries as the tests (Debian's PostgreSQL, Redis, Prometheus and exporters; the project's
virtualenv for the API, control service and Locust), same published ports as compose.yaml.
Prometheus runs the project's own prometheus.yml and rules, with the targets rewritten for local
ports. All state (data, logs, pid files) lives in one ignored directory: .lab/ (FAULTLINE_LAB_DIR).
FAULTLINE_LAB_PORT_OFFSET shifts every port (tests use it to run beside a real lab).

Safe on a shared machine: everything listens on loopback only, but other local users share
loopback, so PostgreSQL asks for a password (scram-sha-256, no trust), Redis has one, and the
admin token is the lab's own unless you set FAULTLINE_ADMIN_TOKEN: all generated on first start
into .lab/secrets.env (mode 0600; `make fault` and friends read it). Secrets reach processes by
environment or 0600 files, never argv (which `ps` shows everyone). The lab's directory is 0700.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
LAB = Path(os.environ.get("FAULTLINE_LAB_DIR", ROOT / ".lab"))
OFFSET = int(os.environ.get("FAULTLINE_LAB_PORT_OFFSET", "0"))
# Every port stays below 32768 with any offset the tests use: Linux hands out 32768-60999 as the
# local ports of outgoing connections, and a server cannot bind a port that a client connection
# (or its 60 s TIME_WAIT) holds. (The tests' PostgreSQL, on 56432 then, once failed to start in
# a CI run; its log was gone with the test's directory, and this is the likely cause.)
BASE_PORTS = {
    "api": 8000,
    "control": 8080,
    "prometheus": 9090,
    "loadgen": 8089,
    "loadgen-metrics": 9646,
    "postgres": 15432,  # not 5432/6379: a PostgreSQL or Redis of the machine's own may run there
    "redis": 16379,
    "postgres-exporter": 9187,
    "redis-exporter": 9121,
}


def ports(offset: int) -> dict[str, int]:
    """Every component's port, shifted by `offset` (this lab: FAULTLINE_LAB_PORT_OFFSET; the tests
    pass their own)."""
    return {name: port + offset for name, port in BASE_PORTS.items()}


PORTS = ports(OFFSET)
# What the full stack has that the native lab does not (no packages for this machine).
MISSING = (
    "Grafana (dashboards: use the console's charts)",
    "Loki (logs: .lab/logs/api.log)",
    "Tempo (traces)",
    "the OpenTelemetry collector",
)
LOAD_USERS = os.environ.get("LOADGEN_USERS", "5")
BIN = Path(sys.executable).parent
DB = "faultline"
SECRETS_FILE = LAB / "secrets.env"
SECRET_NAMES = ("POSTGRES_SUPERUSER_PASSWORD", "POSTGRES_PASSWORD", "REDIS_PASSWORD")


def is_demo_secret(value: str) -> bool:
    """The repository's published defaults (`...-local-only`), or nothing at all."""
    return not value.strip() or "local-only" in value


def lab_secrets() -> dict[str, str]:
    """The lab's passwords and admin token, made once and kept in .lab/secrets.env (0600).
    A FAULTLINE_ADMIN_TOKEN of your own (not the published demo value) wins, and is kept."""
    known: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in SECRETS_FILE.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                known[name] = value
    wanted = dict(known)
    for name in SECRET_NAMES:
        wanted.setdefault(name, secrets.token_urlsafe(24))
    token = os.environ.get("FAULTLINE_ADMIN_TOKEN", "")
    if not is_demo_secret(token):
        wanted["FAULTLINE_ADMIN_TOKEN"] = token
    wanted.setdefault("FAULTLINE_ADMIN_TOKEN", secrets.token_urlsafe(24))
    for name in SECRET_NAMES:
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,}", wanted[name]):
            raise SystemExit(
                f"{name} in {SECRETS_FILE} must be 16+ letters, digits, - or _ "
                "(it goes into URLs and SQL): fix it, or delete the line to get a new one"
            )
    if wanted != known:
        LAB.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(SECRETS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("# The native lab's secrets (scripts/lab.py); make clean removes them.\n")
            out.writelines(f"{name}={value}\n" for name, value in wanted.items())
    return wanted


def app_env() -> dict[str, str]:
    """What the API and the control service are started with (secrets by environment)."""
    lab = lab_secrets()
    return {
        "DATABASE_URL": (
            f"postgres://faultline:{lab['POSTGRES_PASSWORD']}@127.0.0.1:{PORTS['postgres']}/{DB}"
        ),
        "REDIS_URL": f"redis://:{lab['REDIS_PASSWORD']}@127.0.0.1:{PORTS['redis']}/0",
        "FAULTLINE_ADMIN_TOKEN": lab["FAULTLINE_ADMIN_TOKEN"],
        "OTEL_SDK_DISABLED": "true",  # no collector in the native lab
        "SHUTDOWN_DRAIN_SECONDS": "0",  # one replica, no proxy in front: nothing to drain from
        "LOG_JSON": "true",
        "PROMETHEUS_URL": f"http://127.0.0.1:{PORTS['prometheus']}",
    }


def native_prometheus_config(
    targets: dict[str, list[str]], rules_dir: Path | None = None
) -> dict[str, Any]:
    """The project's prometheus.yml with each job's targets rewritten to local addresses; jobs
    with no local target are left out. Rules: the project's own."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str((rules_dir or ROOT / "prometheus" / "rules") / "*.rules.yml")]
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job.pop("dns_sd_configs", None)
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
            jobs.append(job)
    config["scrape_configs"] = jobs
    return dict(config)


def alive(pid: int) -> bool:
    """Running, not merely a zombie: the lab's processes outlive `lab.py` and are reparented to
    an init that may reap them late, and a zombie still answers kill(pid, 0)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def start_time(pid: int) -> str:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22); "" if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def port_bindable(port: int) -> bool:
    """Whether a server could listen on the port now, as the lab's servers do (SO_REUSEADDR):
    false for a port another server listens on, and for one an outgoing connection holds."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (local URL)
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Component:
    name: str
    command: list[str]
    ready: str  # an http URL that answers 200, or "port:N"
    env: dict[str, str] = field(default_factory=dict)
    # The environment's secret part, made when the component starts (not by `down` or `status`).
    secret_env: Callable[[], dict[str, str]] = dict

    @property
    def pidfile(self) -> Path:
        return LAB / "pids" / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The process `start` made, if it still runs: a pid file names a pid and its start
        time, so a recycled pid (after a crash or a reboot) is never taken for ours."""
        try:
            pid_text, started = self.pidfile.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        return pid if alive(pid) and start_time(pid) == started else None

    def state(self) -> str:
        if self.pid() is not None:
            return "running"
        return "crashed" if self.pidfile.exists() else "stopped"

    def is_ready(self) -> bool:
        if self.ready.startswith("port:"):
            return port_open(int(self.ready[5:]))
        return http_ok(self.ready)

    def start(self) -> None:
        (LAB / "logs").mkdir(parents=True, exist_ok=True)
        (LAB / "pids").mkdir(parents=True, exist_ok=True)
        with (LAB / "logs" / f"{self.name}.log").open("ab") as log:
            process = subprocess.Popen(
                self.command,
                env={**os.environ, **self.env, **self.secret_env()},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=ROOT,
            )
        self.pidfile.write_text(f"{process.pid} {start_time(process.pid)}")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            for _ in range(100):
                if self.pid() is None:
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)


class Postgres(Component):
    """PostgreSQL through pg_ctl (as the `postgres` user when root: initdb refuses root)."""

    def __init__(self) -> None:
        super().__init__("postgres", [], f"port:{PORTS['postgres']}")
        found = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
        )
        if not found:
            raise SystemExit("PostgreSQL server binaries not found: apt-get install postgresql")
        self.bindir = Path(found[-1]).parent
        self.data = LAB / "postgres"
        self.run_as = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive(pid) else None

    def state(self) -> str:
        return "running" if self.pid() else ("crashed" if self.pidfile.exists() else "stopped")

    def start(self) -> None:
        (LAB / "pids").mkdir(parents=True, exist_ok=True)
        (LAB / "logs").mkdir(parents=True, exist_ok=True)
        lab = lab_secrets()
        uid = pwd.getpwnam(self.run_as).pw_uid if self.run_as else -1
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            for path in (LAB, self.data, LAB / "logs"):
                os.chown(path, uid, -1)
            # The superuser's password from a 0600 file the server's user can read, then gone.
            pwfile = LAB / "initdb-password"
            pwfile.write_text(lab["POSTGRES_SUPERUSER_PASSWORD"] + "\n")
            os.chown(pwfile, uid, -1)
            try:
                result = self._run(
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                )
            finally:
                pwfile.unlink(missing_ok=True)
            if result.returncode:
                raise SystemExit(f"initdb failed: {result.stderr}")
        log = LAB / "logs" / "postgres.log"
        log.touch()
        os.chown(log, uid, -1)
        result = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {PORTS['postgres']} -k {self.data} -c listen_addresses=127.0.0.1",
            "start",
        )
        if result.returncode:
            # pg_ctl only says "examine the log output": say what the log says.
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
            raise SystemExit(
                f"PostgreSQL did not start: {result.stderr}{result.stdout}\n{log}:\n{tail}"
            )
        self.pidfile.write_text(str(self.pid()))
        superuser = lab["POSTGRES_SUPERUSER_PASSWORD"]
        password = lab["POSTGRES_PASSWORD"]
        role = (
            "CREATE"
            if not self.sql("SELECT 1 FROM pg_roles WHERE rolname='faultline'")
            else "ALTER"
        )
        # The passwords are the lab's own, of URL-safe characters only (lab_secrets checks).
        self.sql(f"ALTER ROLE postgres PASSWORD '{superuser}'")
        self.sql(f"{role} ROLE faultline LOGIN PASSWORD '{password}'")
        if not self.sql("SELECT 1 FROM pg_database WHERE datname='faultline'"):  # DB
            self.sql(f"CREATE DATABASE {DB} OWNER faultline")
        self.require_passwords()

    def sql(self, statement: str) -> str:
        """One statement as the superuser over TCP, with the lab's password (by environment)."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(PORTS["postgres"]),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-tA",
            ],
            input=statement,  # on stdin: a password in argv would show in `ps`
            env={**os.environ, "PGPASSWORD": lab_secrets()["POSTGRES_SUPERUSER_PASSWORD"]},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise SystemExit(f"PostgreSQL refused {statement.split()[0]}: {result.stderr.strip()}")
        return result.stdout.strip()

    def require_passwords(self) -> None:
        """A lab made before passwords (initdb --auth=trust) is moved to scram-sha-256 in place:
        its roles have their passwords by now, so the server is told to ask for them."""
        hba = self.data / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        if not any(line.split()[-1:] == ["trust"] for line in lines if not line.startswith("#")):
            return
        hba.write_text(
            "# Written by scripts/lab.py: every connection gives a password.\n"
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        self.sql("SELECT pg_reload_conf()")

    def stop(self) -> None:
        if self.pid():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.pidfile.unlink(missing_ok=True)


def binary(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: scripts/ensure-tools.sh installs it")
    return found


def components() -> list[Component]:
    prom_dir = LAB / "prometheus"
    return [
        Postgres(),
        Component(
            "redis",
            [binary("redis-server"), str(LAB / "redis.conf")],  # the password is in the file
            f"port:{PORTS['redis']}",
        ),
        Component(
            "api",
            [str(BIN / "faultline"), "serve", "--host", "127.0.0.1", "--port", str(PORTS["api"])],
            f"http://127.0.0.1:{PORTS['api']}/health/ready",
            secret_env=app_env,
        ),
        Component(
            "control",
            [
                str(BIN / "faultline"),
                "control",
                "--host",
                "127.0.0.1",
                "--port",
                str(PORTS["control"]),
            ],
            f"http://127.0.0.1:{PORTS['control']}/health/live",
            secret_env=app_env,
        ),
        Component(
            "postgres-exporter",
            [
                binary("prometheus-postgres-exporter"),
                f"--web.listen-address=127.0.0.1:{PORTS['postgres-exporter']}",
            ],
            f"port:{PORTS['postgres-exporter']}",
            {"DATA_SOURCE_URI": f"127.0.0.1:{PORTS['postgres']}/{DB}?sslmode=disable"},
            lambda: {
                "DATA_SOURCE_USER": "postgres",
                "DATA_SOURCE_PASS": lab_secrets()["POSTGRES_SUPERUSER_PASSWORD"],
            },
        ),
        Component(
            "redis-exporter",
            [
                binary("prometheus-redis-exporter"),
                f"--redis.addr=redis://127.0.0.1:{PORTS['redis']}",
                f"--web.listen-address=127.0.0.1:{PORTS['redis-exporter']}",
            ],
            f"port:{PORTS['redis-exporter']}",
            secret_env=lambda: {"REDIS_PASSWORD": lab_secrets()["REDIS_PASSWORD"]},
        ),
        Component(
            "loadgen",
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "loadtest" / "locustfile.py"),
                "--host",
                f"http://127.0.0.1:{PORTS['api']}",
                "--web-host",
                "127.0.0.1",
                "--web-port",
                str(PORTS["loadgen"]),
                "--autostart",
                "--users",
                LOAD_USERS,
                "--spawn-rate",
                "2",
            ],
            f"http://127.0.0.1:{PORTS['loadgen']}/",
            {"LOADGEN_METRICS_PORT": str(PORTS["loadgen-metrics"])},
        ),
        Component(
            "prometheus",
            [
                binary("prometheus"),
                f"--config.file={prom_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={prom_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{PORTS['prometheus']}",
                "--enable-feature=exemplar-storage",
                "--storage.tsdb.retention.time=2d",
            ],
            f"http://127.0.0.1:{PORTS['prometheus']}/-/ready",
        ),
    ]


def write_redis_config() -> None:
    """Redis's settings, its password with them (a 0600 file: not argv, which `ps` shows)."""
    settings = {
        "port": PORTS["redis"],
        "bind": "127.0.0.1",
        "save": '""',
        "appendonly": "no",
        "maxmemory": "64mb",
        "maxmemory-policy": "allkeys-lru",
        "requirepass": lab_secrets()["REDIS_PASSWORD"],
    }
    fd = os.open(LAB / "redis.conf", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Generated by scripts/lab.py.\n")
        out.writelines(f"{name} {value}\n" for name, value in settings.items())


def write_prometheus_config() -> None:
    local = {
        "api": [f"127.0.0.1:{PORTS['api']}"],
        "control": [f"127.0.0.1:{PORTS['control']}"],
        "loadgen": [f"127.0.0.1:{PORTS['loadgen-metrics']}"],
        "postgres": [f"127.0.0.1:{PORTS['postgres-exporter']}"],
        "redis": [f"127.0.0.1:{PORTS['redis-exporter']}"],
        "prometheus": [f"127.0.0.1:{PORTS['prometheus']}"],
    }
    (LAB / "prometheus").mkdir(parents=True, exist_ok=True)
    (LAB / "prometheus" / "prometheus.yml").write_text(
        "# Generated by scripts/lab.py from prometheus/prometheus.yml: edit that file instead.\n"
        + yaml.safe_dump(native_prometheus_config(local))
    )


def wait_ready(component: Component, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not component.is_ready():
        if component.state() == "crashed":
            tail = (LAB / "logs" / f"{component.name}.log").read_text()[-2000:]
            raise SystemExit(f"{component.name} crashed on start:\n{tail}")
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{component.name} not ready after {timeout:.0f}s (see .lab/logs/{component.name}.log)"
            )
        time.sleep(0.2)


def up() -> int:
    os.umask(0o077)  # logs, data and configs: readable by the lab's user only
    LAB.mkdir(mode=0o700, parents=True, exist_ok=True)
    LAB.chmod(0o700)  # a lab made before this was world-readable
    write_redis_config()
    write_prometheus_config()
    started = []
    for component in components():
        state = component.state()
        if state == "running":
            continue
        if state == "crashed":
            print(
                f"  {component.name} had crashed (see .lab/logs/{component.name}.log); restarting"
            )
        port = (
            component.ready[5:]
            if component.ready.startswith("port:")
            else component.ready.split(":")[2].split("/")[0]
        )
        if port_open(int(port)):
            raise SystemExit(
                f"port {port} is taken by another process: {component.name} cannot start "
                "(stop it, or set FAULTLINE_LAB_PORT_OFFSET)"
            )
        if not port_bindable(int(port)):
            raise SystemExit(
                f"port {port} is held by a connection (`ss -tan | grep :{port}`): "
                f"{component.name} cannot listen on it; try again, or set FAULTLINE_LAB_PORT_OFFSET"
            )
        if component.name == "api":
            # Migrations and the catalogue first, as compose's `migrate` job does.
            result = subprocess.run(
                [str(BIN / "faultline"), "setup"],
                env={**os.environ, **app_env()},
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                raise SystemExit(f"faultline setup failed:\n{result.stdout}{result.stderr}")
        component.start()
        started.append(component.name)
        wait_ready(component)
    wait_for_first_scrape()
    print("started: " + (", ".join(started) if started else "nothing (already running)"))
    print_urls()
    return 0


def wait_for_first_scrape(timeout: float = 30) -> None:
    query = urllib.request.quote('count(up{job="api"} == 1)')
    url = f"http://127.0.0.1:{PORTS['prometheus']}/api/v1/query?query={query}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError, KeyError, IndexError, ValueError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if json.load(response)["data"]["result"][0]["value"][1] == "1":
                return
        time.sleep(0.5)
    raise SystemExit("Prometheus has not scraped the API yet (see .lab/logs/prometheus.log)")


def down() -> int:
    stopped = []
    for component in reversed(components()):
        if component.state() != "stopped":
            component.stop()
            stopped.append(component.name)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def status() -> int:
    bad = 0
    for component in components():
        state = component.state()
        bad += state == "crashed"
        print(f"  {component.name:<18} {state}")
    return 1 if bad else 0


def print_urls() -> None:
    print(f"""
Faultline native lab is up (no Docker engine here).
  Fault console   http://127.0.0.1:{PORTS["control"]}/        (token: {lab_secrets()["FAULTLINE_ADMIN_TOKEN"]})
  Shop API        http://127.0.0.1:{PORTS["api"]}/api/v1/products   docs: /docs
  Prometheus      http://127.0.0.1:{PORTS["prometheus"]}/     (alerts: /alerts)
  Load (Locust)   http://127.0.0.1:{PORTS["loadgen"]}/        ({LOAD_USERS} shoppers to start with)
Not in the native lab (the compose stack has them): {"; ".join(MISSING)}.
State, logs and secrets (secrets.env): {LAB}/  ·  stop with: make down""")


if __name__ == "__main__":
    commands = {"up": up, "down": down, "status": status}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: lab.py {{{'|'.join(commands)}}}")
    sys.exit(commands[sys.argv[1]]())
