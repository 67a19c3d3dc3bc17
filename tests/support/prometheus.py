"""A real Prometheus (Debian's binary) for tests: scrapes given targets, answers PromQL."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.native_lab import lab_script
from tests.support.servers import ServerUnavailable, free_port


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

    def targets_up(self) -> bool:
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=5).json()
        active = response["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)


def project_config(targets: dict[str, list[str]]) -> dict[str, Any]:
    """The project's prometheus.yml rewritten for local targets: the native lab's own function
    (scripts/lab.py), so the tests check exactly what `make lab` runs."""
    config: dict[str, Any] = lab_script().native_prometheus_config(targets)
    return config


@contextlib.contextmanager
def running_prometheus(
    targets: dict[str, list[str]], scrape_interval: str = "1s", config: dict[str, Any] | None = None
) -> Iterator[Prometheus]:
    """Prometheus scraping `targets` ({job: ["host:port", ...]}) with exemplar storage on, or
    running `config` as given."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise ServerUnavailable("prometheus not found (apt-get install prometheus)")
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
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServerUnavailable((workdir / "prometheus.log").read_text())
            time.sleep(0.2)
        yield Prometheus(url)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
