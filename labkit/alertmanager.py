"""Alertmanager (Debian's binary) on the project's own configuration, for the native lab and
the tests: alertmanager/alertmanager.yml with the pager's address and token file made local."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from labkit.net import ServerUnavailable, free_port
from labkit.processes import running_server

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "alertmanager" / "alertmanager.yml"


def project_config(control_url: str, token_file: Path) -> dict[str, Any]:
    """The project's alertmanager.yml, its webhooks sent to `control_url` with the bearer token
    read from `token_file` (compose: http://control:8080 and a mounted secret)."""
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            path = webhook["url"].split("://", 1)[1].split("/", 1)[1]
            webhook["url"] = f"{control_url.rstrip('/')}/{path}"
            webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    return config


def alertmanager_command(config: Path, data: Path, port: int) -> list[str]:
    """Alertmanager on loopback, alone (no cluster gossip port)."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise ServerUnavailable("alertmanager not found (apt-get install prometheus-alertmanager)")
    return [
        binary,
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]


@contextlib.contextmanager
def running_alertmanager(config: dict[str, Any]) -> Iterator[str]:
    """Alertmanager running `config`; yields its URL once it is ready."""
    workdir = Path(tempfile.mkdtemp(prefix="faultline-am-"))
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = alertmanager_command(workdir / "alertmanager.yml", workdir / "data", port)
    try:
        with running_server("Alertmanager", command, f"{url}/-/ready", workdir / "am.log"):
            yield url
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def post_alerts(url: str, alerts: list[dict[str, Any]]) -> None:
    """Send alerts as Prometheus does (Alertmanager's v2 API)."""
    response = httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=5)
    response.raise_for_status()
