"""The Prometheus configuration and rules, checked by Debian's promtool and Prometheus: config
syntax, rule syntax, a unit test for every alert (prometheus/tests/), and how the API's replicas
are found and named."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from labkit.net import free_port
from labkit.prometheus import Prometheus, dns_names, prometheus_command

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not found (apt-get install prometheus; scripts/ensure-tools.sh does)"
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=PROMETHEUS)


def test_config_is_valid_with_its_rules(tmp_path: Path) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    # In the container the rules are mounted at /etc/prometheus/rules; here they are in the repo.
    assert config["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]
    config["rule_files"] = [str(PROMETHEUS / "rules" / "*.rules.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", *map(str, (PROMETHEUS / "rules").glob("*.rules.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_passing_unit_test() -> None:
    tests = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
    result = promtool("test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {
        rule["alert"]
        for path in (PROMETHEUS / "rules").glob("*.rules.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tested = {
        case["alertname"]
        for path in tests
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == tested, f"alerts with no firing test: {sorted(alerts - tested)}"


@pytest.mark.parametrize(
    "job", ["api", "control", "loadgen", "postgres", "redis", "otel-collector", "tempo", "loki"]
)
def test_every_component_is_scraped_every_5s(job: str) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "5s"
    assert job in {scrape["job_name"] for scrape in config["scrape_configs"]}


class ComposeDns(BaseResolver):  # type: ignore[misc]
    """Stands in for Docker's embedded DNS, which cannot run here: it answers the container
    names Compose gives two running replicas, and NXDOMAIN for every other name (as Docker's DNS
    does, through the host's resolver, for a replica that is not running)."""

    def __init__(self, containers: dict[str, str]) -> None:
        self.containers = containers

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        if name in self.containers and request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.containers[name]), ttl=5))
        elif name not in self.containers:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def test_api_replicas_are_named_by_their_containers(tmp_path: Path) -> None:
    """The api job, as in prometheus.yml, on Debian's Prometheus: each replica found by its
    container's name is labelled instance="api-N" (not an address), and the names of replicas
    that are not running give no target and no error. Prometheus reads /etc/resolv.conf only, so
    it runs in a mount namespace of its own whose resolv.conf names the stand-in."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail(
            "needs root and unshare (util-linux): a DNS server on port 53, a mount namespace"
        )
    containers = {"faultline-api-1": "127.0.0.11", "faultline-api-2": "127.0.0.12"}
    quiet = DNSLogger(log="-request,-reply,-truncated", prefix=False)
    server = DNSServer(ComposeDns(containers), address="127.0.0.77", port=53, logger=quiet)
    server.start_thread()
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["rule_files"] = []
    config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] == "api"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.77\noptions timeout:1 attempts:1\n")
    port = free_port()
    command = prometheus_command(tmp_path / "prometheus.yml", tmp_path / "data", port)
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "sh",
                "-c",
                f'mount --bind "{tmp_path}/resolv.conf" /etc/resolv.conf && exec "$@"',
                "sh",
                *command,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        prometheus = Prometheus(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(targets) < len(containers):
            time.sleep(0.5)
            if process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                targets = prometheus.targets()
        assert sorted(t["labels"]["instance"] for t in targets) == ["api-1", "api-2"], (
            targets or log_path.read_text()[-2000:]
        )
        addresses = {t["discoveredLabels"]["__address__"] for t in targets}
        assert addresses == {"127.0.0.11:8000", "127.0.0.12:8000"}
        time.sleep(6)  # one more DNS refresh (5 s): NXDOMAIN for faultline-api-3..5 is no error
        assert "Error refreshing DNS targets" not in log_path.read_text()
        assert len(prometheus.targets()) == len(containers)
    finally:
        process.terminate()
        process.wait(timeout=15)
        server.stop()
        server.server.server_close()


def test_each_api_replica_finds_its_own_name(tmp_path: Path) -> None:
    """compose's REPLICA_DNS_NAME names the containers prometheus.yml lists, and a replica finds its
    own name (faultline.replica) as it does in compose: its hostname's address, from /etc/hosts
    (Docker writes it there), is the address Docker's DNS gives one container name. Both stand-ins
    are bind-mounted in a mount namespace, so the system's own resolver does the lookups."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("needs root and unshare (util-linux): a DNS server on port 53, mounts")
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    pattern = compose["services"]["api"]["environment"]["REPLICA_DNS_NAME"]
    assert [pattern.format(n=n) for n in range(1, len(dns_names("api")) + 1)] == dns_names("api")
    containers = {f"faultline-api-{n}": f"127.0.0.1{n}" for n in (1, 2, 3)}
    quiet = DNSLogger(log="-request,-reply,-truncated", prefix=False)
    server = DNSServer(ComposeDns(containers), address="127.0.0.77", port=53, logger=quiet)
    server.start_thread()
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.77\noptions timeout:1 attempts:1\n")
    find = f"from faultline.replica import name_from_dns; print(name_from_dns({pattern!r}))"

    def name_with_own_address(address: str) -> list[str]:
        (tmp_path / "hosts").write_text(f"127.0.0.1 localhost\n{address} {socket.gethostname()}\n")
        mounts = (
            f'mount --bind "{tmp_path}/resolv.conf" /etc/resolv.conf && '
            f'mount --bind "{tmp_path}/hosts" /etc/hosts && exec "$@"'
        )
        result = subprocess.run(
            ["unshare", "--mount", "sh", "-c", mounts, "sh", sys.executable, "-c", find],
            env={**os.environ, "LOG_JSON": "true"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    try:
        assert name_with_own_address("127.0.0.12")[-1] == "api-2"
        assert name_with_own_address("127.0.0.13")[-1] == "api-3"
        # No container name gives this host's address: no name, and it says so.
        unnamed = name_with_own_address("127.0.0.99")
        assert unnamed[-1] == "None" and "replica.unnamed" in "".join(unnamed)
    finally:
        server.stop()
        server.server.server_close()
