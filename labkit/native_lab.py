"""The native lab: the Faultline lab as local processes, for machines with no Docker engine.

    python scripts/lab.py up       start what is not running yet, wait until ready, print URLs
                                   (REPLICAS=3: three API replicas behind the proxy;
                                   LOADGEN_WORKERS=2: Locust as a master and two workers)
    python scripts/lab.py down     stop exactly what `up` started
    python scripts/lab.py status   each component: running, stopped or crashed

(scripts/lab.py runs `main` here.) Each server is started by the labkit module the tests and
benchmarks use too (postgres, redis, prometheus, api).

Same binaries as the tests (Debian's PostgreSQL, Redis, Prometheus and exporters; the project's
virtualenv for the API, control service and Locust), same published ports as compose.yaml. As in
compose, the shop's port is a reverse proxy (Debian's nginx with the stack's proxy/nginx.conf,
labkit.proxy) in front of REPLICAS API processes (1 to 5), api-1 to api-N, each on its own port,
each scraped as its own target and named so. With LOADGEN_WORKERS=N (0 to 8), Locust runs as
in compose's `make up LOADGEN_WORKERS=N`: a master (the web UI, the metrics of all) and N workers.
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
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from faultline.exposure import DEMO_MARKER
from labkit import processes
from labkit.alertmanager import alertmanager_command
from labkit.alertmanager import project_config as alertmanager_config
from labkit.api import faultline_command, serve_command
from labkit.net import ServerUnavailable, http_ok, port_bindable, port_open
from labkit.postgres import Cluster
from labkit.processes import alive, start_time
from labkit.prometheus import dns_names, project_config, prometheus_command
from labkit.proxy import nginx_command
from labkit.proxy import project_config as proxy_config
from labkit.redis import redis_command, write_config
from labkit.settings import lab_settings

ROOT = Path(__file__).resolve().parents[1]
LAB = Path(os.environ.get("FAULTLINE_LAB_DIR", ROOT / ".lab"))
OFFSET = int(os.environ.get("FAULTLINE_LAB_PORT_OFFSET", "0"))
# Every port stays below 32768 with any offset the tests use: Linux hands out 32768-60999 as the
# local ports of outgoing connections, and a server cannot bind a port that a client connection
# (or its 60 s TIME_WAIT) holds. (The tests' PostgreSQL, on 56432 then, once failed to start in
# a CI run; its log was gone with the test's directory, and this is the likely cause.)
# The ports the compose stack publishes are the stack's own settings (.env, .env.local), so that
# `make fault` and friends find the native lab where they would find the stack.
SETTINGS = lab_settings()
BASE_PORTS = {
    "api": int(SETTINGS["API_PORT"]),
    "control": int(SETTINGS["CONTROL_PORT"]),
    "prometheus": int(SETTINGS["PROMETHEUS_PORT"]),
    "alertmanager": int(SETTINGS["ALERTMANAGER_PORT"]),
    "loadgen": int(SETTINGS["LOADGEN_PORT"]),
    "loadgen-metrics": 9646,
    "loadgen-master": 5557,  # where Locust's workers reach their master (Locust's default)
    "postgres": 15432,  # not 5432/6379: a PostgreSQL or Redis of the machine's own may run there
    "redis": 16379,
    "postgres-exporter": 9187,
    "redis-exporter": 9121,
}
# As many API replicas as Prometheus has names for (faultline-api-1 to -N, as in compose), each
# on its own port, behind the proxy (which has the API's port, as in compose).
MAX_REPLICAS = len(dns_names("api"))
BASE_PORTS.update({f"api-{number}": 18000 + number for number in range(1, MAX_REPLICAS + 1)})


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
LOAD_USERS = SETTINGS["LOADGEN_USERS"]
BIN = Path(sys.executable).parent
DB = "faultline"
SECRETS_FILE = LAB / "secrets.env"
REPLICAS_FILE = LAB / "replicas"
WORKERS_FILE = LAB / "loadgen-workers"
MAX_WORKERS = 8  # each a process on this machine: more only compete for its cores
SECRET_NAMES = ("POSTGRES_SUPERUSER_PASSWORD", "POSTGRES_PASSWORD", "REDIS_PASSWORD")


def is_demo_secret(value: str) -> bool:
    """The repository's published defaults (`...-local-only`), or nothing at all."""
    return not value.strip() or DEMO_MARKER in value


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
    wanted.setdefault("ALERT_WEBHOOK_TOKEN", secrets.token_urlsafe(24))
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


def kept_count(setting: str, kept: Path, running: str, low: int, high: int, what: str) -> int:
    """A count the lab is started with (REPLICAS, LOADGEN_WORKERS): the running lab's (kept in a
    file while its `running` pid files exist), else the environment's, else `low`."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        if any((LAB / "pids").glob(running)):
            return int(kept.read_text())
    wanted = os.environ.get(setting, str(low))
    if not wanted.isdigit() or not low <= int(wanted) <= high:
        raise SystemExit(f"{setting}={wanted}: choose {low} to {high} {what}.")
    return int(wanted)


def replica_count() -> int:
    """How many API replicas: what the running lab was started with, else REPLICAS, else 1."""
    return kept_count("REPLICAS", REPLICAS_FILE, "api-*.pid", 1, MAX_REPLICAS, "API replicas")


def worker_count() -> int:
    """How many Locust workers (0: one Locust process does it all)."""
    return kept_count(
        "LOADGEN_WORKERS", WORKERS_FILE, "loadgen*.pid", 0, MAX_WORKERS, "Locust workers"
    )


def replica_names() -> list[str]:
    return [f"api-{number}" for number in range(1, replica_count() + 1)]


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
        "SHUTDOWN_DRAIN_SECONDS": "0",  # the lab stops as a whole: nothing to drain towards
        "LOG_JSON": "true",
        "PROMETHEUS_URL": f"http://127.0.0.1:{PORTS['prometheus']}",
        # The pager (control service): Alertmanager's token, and the incidents it keeps.
        "ALERT_WEBHOOK_TOKEN": lab["ALERT_WEBHOOK_TOKEN"],
        "INCIDENTS_PATH": str(LAB / "control" / "incidents.jsonl"),
    }


@dataclass
class Component:
    name: str
    command: list[str]
    ready: str  # an http URL that answers 200, or "port:N", or "locust-workers:N"
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

    def port(self) -> int | None:
        """The port it listens on (what its readiness check reaches), or None."""
        if self.ready.startswith("port:"):
            return int(self.ready.partition(":")[2])
        if self.ready.startswith("http"):
            return int(self.ready.split(":")[2].split("/")[0])
        return None

    def is_ready(self) -> bool:
        if self.ready.startswith("port:"):
            return port_open(int(self.ready[5:]))
        if self.ready.startswith("locust-workers:"):
            return locust_workers() >= int(self.ready.partition(":")[2])
        return http_ok(self.ready)

    def wait_ready(self, timeout: float = 60) -> None:
        processes.wait_ready(
            self.name,
            self.is_ready,
            lambda: self.state() != "crashed",
            LAB / "logs" / f"{self.name}.log",
            timeout,
        )

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
    """PostgreSQL through labkit.postgres, with the lab's passwords (scram-sha-256)."""

    def __init__(self) -> None:
        super().__init__("postgres", [], f"port:{PORTS['postgres']}")
        self.cluster = Cluster(
            datadir=LAB / "postgres",
            port=PORTS["postgres"],
            socket_dir=LAB / "postgres",
            log=LAB / "logs" / "postgres.log",
        )

    def pid(self) -> int | None:
        return self.cluster.pid()

    def state(self) -> str:
        return "running" if self.pid() else ("crashed" if self.pidfile.exists() else "stopped")

    def start(self) -> None:
        (LAB / "pids").mkdir(parents=True, exist_ok=True)
        (LAB / "logs").mkdir(parents=True, exist_ok=True)
        # The server's user writes its data, socket and log under the lab's 0700 directory.
        self.cluster.give_to_server(LAB, LAB / "logs")
        lab = lab_secrets()
        if not self.cluster.initialized:
            self.cluster.initdb(auth="scram-sha-256", password=lab["POSTGRES_SUPERUSER_PASSWORD"])
        self.cluster.start()
        self.pidfile.write_text(str(self.pid()))
        password = lab["POSTGRES_PASSWORD"]
        role = (
            "CREATE"
            if not self.sql("SELECT 1 FROM pg_roles WHERE rolname='faultline'")
            else "ALTER"
        )
        # The passwords are the lab's own, of URL-safe characters only (lab_secrets checks).
        self.sql(f"ALTER ROLE postgres PASSWORD '{lab['POSTGRES_SUPERUSER_PASSWORD']}'")
        self.sql(f"{role} ROLE faultline LOGIN PASSWORD '{password}'")
        if not self.sql("SELECT 1 FROM pg_database WHERE datname='faultline'"):  # DB
            self.sql(f"CREATE DATABASE {DB} OWNER faultline")
        self.require_passwords()

    def sql(self, statement: str) -> str:
        """One statement as the superuser, with the lab's password."""
        password = lab_secrets()["POSTGRES_SUPERUSER_PASSWORD"]
        return self.cluster.psql(statement, user="postgres", password=password)

    def require_passwords(self) -> None:
        """A lab made before passwords (initdb --auth=trust) is moved to scram-sha-256 in place:
        its roles have their passwords by now, so the server is told to ask for them."""
        hba = self.cluster.datadir / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        if not any(line.split()[-1:] == ["trust"] for line in lines if not line.startswith("#")):
            return
        hba.write_text(
            "# Written by labkit.native_lab: every connection gives a password.\n"
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        self.sql("SELECT pg_reload_conf()")

    def stop(self) -> None:
        self.cluster.stop()
        self.pidfile.unlink(missing_ok=True)


def binary(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ServerUnavailable(f"{name} not found: scripts/ensure-tools.sh installs it")
    return found


def replica(name: str) -> Component:
    """One API replica, `faultline serve` on its own port, knowing its name (faultline.replica)."""
    return Component(
        name,
        serve_command("serve", PORTS[name]),
        f"http://127.0.0.1:{PORTS[name]}/health/ready",
        # X-Forwarded-For is believed from the proxy only (on loopback), as compose does.
        {"REPLICA_NAME": name, "FORWARDED_ALLOW_IPS": "127.0.0.1"},
        secret_env=app_env,
    )


def components() -> list[Component]:
    prom_dir = LAB / "prometheus"
    return [
        Postgres(),
        Component(
            "redis",
            redis_command(LAB / "redis.conf"),  # the password is in the file
            f"port:{PORTS['redis']}",
        ),
        *(replica(name) for name in replica_names()),
        Component(
            "proxy",
            nginx_command(LAB / "proxy" / "nginx.conf", LAB / "proxy" / "nginx.pid"),
            f"http://127.0.0.1:{PORTS['api']}/proxy/health",
        ),
        Component(
            "control",
            serve_command("control", PORTS["control"]),
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
        *locust_components(worker_count()),
        Component(
            "alertmanager",
            alertmanager_command(
                LAB / "alertmanager" / "alertmanager.yml",
                LAB / "alertmanager" / "data",
                PORTS["alertmanager"],
            ),
            f"http://127.0.0.1:{PORTS['alertmanager']}/-/ready",
        ),
        Component(
            "prometheus",
            prometheus_command(
                prom_dir / "prometheus.yml",
                prom_dir / "data",
                PORTS["prometheus"],
                "--storage.tsdb.retention.time=2d",
            ),
            f"http://127.0.0.1:{PORTS['prometheus']}/-/ready",
        ),
    ]


def locust_components(workers: int) -> list[Component]:
    """Locust as compose runs it: one process, or (workers > 0) a master and its workers."""
    locustfile = ["-f", str(ROOT / "loadtest" / "locustfile.py")]
    master = str(PORTS["loadgen-master"])
    distributed = [
        *("--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", master),
        *("--expect-workers", str(workers)),
    ]
    return [
        Component(
            "loadgen",
            [
                str(BIN / "locust"),
                *locustfile,
                *("--host", f"http://127.0.0.1:{PORTS['api']}"),
                *("--web-host", "127.0.0.1", "--web-port", str(PORTS["loadgen"])),
                *("--autostart", "--users", LOAD_USERS, "--spawn-rate", "2"),
                *(distributed if workers else []),
            ],
            f"http://127.0.0.1:{PORTS['loadgen']}/",
            {"LOADGEN_METRICS_PORT": str(PORTS["loadgen-metrics"])},
        ),
        *(
            Component(
                f"loadgen-worker-{number}",
                [str(BIN / "locust"), *locustfile, "--worker", "--master-port", master],
                f"locust-workers:{number}",
                {"LOADGEN_METRICS_PORT": "0"},  # the master serves the metrics of all
            )
            for number in range(1, workers + 1)
        ),
    ]


def locust_workers() -> int:
    """How many workers Locust's master has (its web UI's own report)."""
    with (
        contextlib.suppress(OSError, ValueError, KeyError),
        urllib.request.urlopen(
            f"http://127.0.0.1:{PORTS['loadgen']}/stats/requests", timeout=2
        ) as response,
    ):
        return len(json.load(response)["workers"])
    return 0


def write_redis_config() -> None:
    """Redis's settings, its password with them (a 0600 file: not argv, which `ps` shows)."""
    write_config(
        LAB / "redis.conf",
        PORTS["redis"],
        password=lab_secrets()["REDIS_PASSWORD"],
        maxmemory="64mb",
        maxmemory_policy="allkeys-lru",
    )


def write_proxy_config() -> None:
    """The stack's proxy/nginx.conf, in front of this lab's replicas (labkit.proxy)."""
    directory = LAB / "proxy"
    (directory / "temp").mkdir(parents=True, exist_ok=True)
    replicas = [f"127.0.0.1:{PORTS[name]}" for name in replica_names()]
    (directory / "nginx.conf").write_text(proxy_config(PORTS["api"], replicas, directory / "temp"))


def write_prometheus_config() -> None:
    local = {
        "api": [f"127.0.0.1:{PORTS[name]}" for name in replica_names()],
        "control": [f"127.0.0.1:{PORTS['control']}"],
        "loadgen": [f"127.0.0.1:{PORTS['loadgen-metrics']}"],
        "postgres": [f"127.0.0.1:{PORTS['postgres-exporter']}"],
        "redis": [f"127.0.0.1:{PORTS['redis-exporter']}"],
        "prometheus": [f"127.0.0.1:{PORTS['prometheus']}"],
        "alertmanager": [f"127.0.0.1:{PORTS['alertmanager']}"],
    }
    (LAB / "prometheus").mkdir(parents=True, exist_ok=True)
    (LAB / "prometheus" / "prometheus.yml").write_text(
        "# Generated by labkit.native_lab from prometheus/prometheus.yml: edit that file instead.\n"
        + yaml.safe_dump(project_config(local))
    )


def write_alertmanager_config() -> None:
    """The project's alertmanager.yml, sending to the local control service, with the webhook
    token in a 0600 file beside it (as compose mounts it as a secret)."""
    directory = LAB / "alertmanager"
    directory.mkdir(parents=True, exist_ok=True)
    token_file = directory / "webhook-token"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(lab_secrets()["ALERT_WEBHOOK_TOKEN"])
    config = alertmanager_config(f"http://127.0.0.1:{PORTS['control']}", token_file)
    (directory / "alertmanager.yml").write_text(
        "# Generated by labkit.native_lab from alertmanager/alertmanager.yml: edit that file.\n"
        + yaml.safe_dump(config)
    )


def up() -> int:
    os.umask(0o077)  # logs, data and configs: readable by the lab's user only
    LAB.mkdir(mode=0o700, parents=True, exist_ok=True)
    LAB.chmod(0o700)  # a lab made before this was world-readable
    for setting, count, kept in (
        ("REPLICAS", replica_count(), REPLICAS_FILE),
        ("LOADGEN_WORKERS", worker_count(), WORKERS_FILE),
    ):
        if os.environ.get(setting, str(count)) != str(count):
            raise SystemExit(
                f"The native lab runs with {setting}={count}: `make down` first, then "
                f"`make up {setting}={os.environ[setting]}`."
            )
        kept.write_text(str(count))
    write_redis_config()
    write_proxy_config()
    write_prometheus_config()
    write_alertmanager_config()
    started = []
    for component in components():
        state = component.state()
        if state == "running":
            continue
        if state == "crashed":
            print(
                f"  {component.name} had crashed (see .lab/logs/{component.name}.log); restarting"
            )
        port = component.port()  # None: a Locust worker listens on nothing
        if port is not None and port_open(port):
            raise SystemExit(
                f"port {port} is taken by another process: {component.name} cannot start "
                "(stop it, or set FAULTLINE_LAB_PORT_OFFSET)"
            )
        if port is not None and not port_bindable(port):
            raise SystemExit(
                f"port {port} is held by a connection (`ss -tan | grep :{port}`): "
                f"{component.name} cannot listen on it; try again, or set FAULTLINE_LAB_PORT_OFFSET"
            )
        if component.name == "api-1":
            # Migrations and the catalogue first, as compose's `migrate` job does.
            result = subprocess.run(
                faultline_command("setup"),
                env={**os.environ, **app_env()},
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                raise SystemExit(f"faultline setup failed:\n{result.stdout}{result.stderr}")
        component.start()
        started.append(component.name)
        component.wait_ready()
    wait_for_first_scrape()
    print("started: " + (", ".join(started) if started else "nothing (already running)"))
    print_urls()
    return 0


def wait_for_first_scrape(timeout: float = 30) -> None:
    query = urllib.parse.quote('count(up{job="api"} == 1)')
    replicas = str(replica_count())
    url = f"http://127.0.0.1:{PORTS['prometheus']}/api/v1/query?query={query}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError, KeyError, IndexError, ValueError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if json.load(response)["data"]["result"][0]["value"][1] == replicas:
                return
        time.sleep(0.5)
    raise SystemExit(
        f"Prometheus has not scraped all {replicas} API replica(s) yet (.lab/logs/prometheus.log)"
    )


def down() -> int:
    stopped = []
    known = components()
    # A process this lab started that is not among today's components (a replica beyond the
    # count, a component an older version had) is stopped too: its pid file names it.
    names = {component.name for component in known}
    strays = [
        Component(pidfile.stem, [], "")
        for pidfile in sorted((LAB / "pids").glob("*.pid"))
        if pidfile.stem not in names
    ]
    for component in [*strays, *reversed(known)]:
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
    workers = f", on {worker_count()} Locust workers" if worker_count() else ""
    print(f"""
Faultline native lab is up (no Docker engine here).
  Fault console   http://127.0.0.1:{PORTS["control"]}/        (token: {lab_secrets()["FAULTLINE_ADMIN_TOKEN"]})
  Shop API        http://127.0.0.1:{PORTS["api"]}/api/v1/products   docs: /docs   ({replica_count()} replica(s) behind nginx)
  Prometheus      http://127.0.0.1:{PORTS["prometheus"]}/     (alerts: /alerts)
  Alertmanager    http://127.0.0.1:{PORTS["alertmanager"]}/     (pages reach the console's pager)
  Load (Locust)   http://127.0.0.1:{PORTS["loadgen"]}/        ({LOAD_USERS} shoppers to start with{workers})
Not in the native lab (the compose stack has them): {"; ".join(MISSING)}.
State, logs and secrets (secrets.env): {LAB}/  ·  stop with: make down""")


def main(argv: Sequence[str]) -> int:
    commands = {"up": up, "down": down, "status": status}
    if len(argv) != 1 or argv[0] not in commands:
        raise SystemExit(f"usage: lab.py {{{'|'.join(commands)}}}")
    try:
        return commands[argv[0]]()
    except ServerUnavailable as exc:  # a server that cannot start: its reason, no traceback
        raise SystemExit(str(exc)) from exc
