"""Prometheus (Debian's binary) on the project's own configuration, and a small PromQL client.

The native lab runs `prometheus_command` on `project_config`; tests start one of their own with
`running_prometheus`, on the same config or a minimal one.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from labkit.net import ServerUnavailable, free_port
from labkit.processes import running_server

ROOT = Path(__file__).resolve().parents[1]


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def exemplars(self, promql: str, seconds_back: float = 300) -> list[dict[str, Any]]:
        now = time.time()
        response = httpx.get(
            f"{self.url}/api/v1/query_exemplars",
            params={"query": promql, "start": now - seconds_back, "end": now},
            timeout=10,
        )
        response.raise_for_status()
        return list(response.json()["data"])

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets, with their labels and discovered labels."""
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=5)
        response.raise_for_status()
        return list(response.json()["data"]["activeTargets"])

    def targets_up(self) -> bool:
        active = self.targets()
        return bool(active) and all(t["health"] == "up" for t in active)


def dns_names(job_name: str) -> list[str]:
    """The names prometheus/prometheus.yml finds `job_name`'s targets by (compose's containers)."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == job_name]
    return [name for sd in job.get("dns_sd_configs", []) for name in sd["names"]]


def project_config(targets: dict[str, list[str]], rules_dir: Path | None = None) -> dict[str, Any]:
    """The project's prometheus/prometheus.yml with each job's targets rewritten to local
    addresses ({job: ["host:port", ...]}); jobs with no local target are left out. Rules: the
    project's own, or those in `rules_dir`. Alerts go to the `alertmanager` job's address, if
    it has one.

    A job compose finds by DNS (the API's replicas) has its targets named as compose's are,
    `instance="api-1"`, `"api-2"`, ..., in the order given, so dashboards read the same."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str((rules_dir or ROOT / "prometheus" / "rules") / "*.rules.yml")]
    jobs = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name not in targets:
            continue
        if job.pop("dns_sd_configs", None) is None:
            job["static_configs"] = [{"targets": targets[name]}]
        else:
            job["static_configs"] = [
                {"targets": [target], "labels": {"instance": f"{name}-{number}"}}
                for number, target in enumerate(targets[name], start=1)
            ]
        jobs.append(job)
    config["scrape_configs"] = jobs
    # Alerts go to the local Alertmanager when there is one (it is the `alertmanager` job).
    if "alertmanager" in targets:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": targets["alertmanager"]}]}]
        }
    else:
        config.pop("alerting", None)
    return dict(config)


def prometheus_command(config: Path, data: Path, port: int, *extra: str) -> list[str]:
    """Prometheus on loopback with exemplar storage (the API's histograms carry trace ids)."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise ServerUnavailable("prometheus not found (apt-get install prometheus)")
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=exemplar-storage",
        *extra,
    ]


@contextlib.contextmanager
def running_prometheus(
    targets: dict[str, list[str]], scrape_interval: str = "1s", config: dict[str, Any] | None = None
) -> Iterator[Prometheus]:
    """Prometheus scraping `targets` ({job: ["host:port", ...]}) with exemplar storage on, or
    running `config` as given."""
    workdir = Path(tempfile.mkdtemp(prefix="faultline-prom-"))
    config = config or {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": hosts}]}
            for job, hosts in targets.items()
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = prometheus_command(workdir / "prometheus.yml", workdir / "data", port)
    try:
        with running_server("Prometheus", command, f"{url}/-/ready", workdir / "prometheus.log"):
            yield Prometheus(url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
