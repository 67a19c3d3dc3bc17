"""A lab published beyond loopback must not keep a demo secret: `make up` refuses before Compose
starts anything, and says in one line what to set (scripts/check-exposure.sh, run under dash as
a laptop's /bin/sh would)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.docker_standin import install_docker_standin
from tests.support.figures import record
from tests.support.stack_files import ROOT, load_env

CHECK = ROOT / "scripts" / "check-exposure.sh"
EVERYWHERE = "0.0.0.0"  # noqa: S104  (the exposure under test)
OWN = {
    "POSTGRES_PASSWORD": "5f0c2a9e8b7d4c1a",
    "FAULTLINE_ADMIN_TOKEN": "9b1e6d3f0a2c4e8b7d5f",
    "ALERT_WEBHOOK_TOKEN": "4e0b9d2c7a1f8e3b6c5d",
    "GRAFANA_ADMIN_PASSWORD": "c3a8e1f7b2d94e60",
    "GRAFANA_ANONYMOUS": "true",
    "GRAFANA_ANONYMOUS_ROLE": "Viewer",
}


def check(settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], **settings}
    return subprocess.run(["dash", str(CHECK)], env=env, capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.1.1", "localhost", "::1"])
def test_loopback_keeps_the_demo_defaults(bind: str) -> None:
    result = check({**load_env(), "BIND_ADDRESS": bind})
    assert (result.returncode, result.stdout) == (0, "")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"POSTGRES_PASSWORD": "faultline-local-only"}, "POSTGRES_PASSWORD"),
        ({"FAULTLINE_ADMIN_TOKEN": "faultline-local-only"}, "FAULTLINE_ADMIN_TOKEN"),
        ({"FAULTLINE_ADMIN_TOKEN": "short"}, "FAULTLINE_ADMIN_TOKEN"),
        ({"FAULTLINE_ADMIN_TOKEN": ""}, "FAULTLINE_ADMIN_TOKEN"),
        ({"ALERT_WEBHOOK_TOKEN": "alerts-local-only"}, "ALERT_WEBHOOK_TOKEN"),
        ({"ALERT_WEBHOOK_TOKEN": "short"}, "ALERT_WEBHOOK_TOKEN"),
        ({"GRAFANA_ADMIN_PASSWORD": "faultline-local-only"}, "GRAFANA_ADMIN_PASSWORD"),
        ({"GRAFANA_ANONYMOUS_ROLE": "Editor"}, "GRAFANA_ANONYMOUS_ROLE=Viewer"),
        ({"GRAFANA_ANONYMOUS_ROLE": "Admin"}, "GRAFANA_ANONYMOUS_ROLE=Viewer"),
    ],
)
def test_an_exposed_lab_with_any_demo_setting_is_refused(
    change: dict[str, str], named: str
) -> None:
    result = check({**OWN, "BIND_ADDRESS": "0.0.0.0", **change})  # noqa: S104
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and named in lines[0] and ".env.local" in lines[0]


@pytest.mark.parametrize(
    "anonymous", [{}, {"GRAFANA_ANONYMOUS": "false", "GRAFANA_ANONYMOUS_ROLE": "Admin"}]
)
def test_an_exposed_lab_with_secrets_of_its_own_starts(anonymous: dict[str, str]) -> None:
    result = check({**OWN, "BIND_ADDRESS": "192.168.1.20", **anonymous})
    assert (result.returncode, result.stdout) == (0, "")


def test_the_repository_defaults_are_refused_when_exposed() -> None:
    result = check({**load_env(), "BIND_ADDRESS": "0.0.0.0"})  # noqa: S104
    for name in ("POSTGRES_PASSWORD", "FAULTLINE_ADMIN_TOKEN", "ALERT_WEBHOOK_TOKEN"):
        assert name in result.stdout
    assert "GRAFANA_ADMIN_PASSWORD" in result.stdout
    assert "GRAFANA_ANONYMOUS_ROLE=Viewer" in result.stdout
    record(
        "exposure_check",
        {"bind": EVERYWHERE, "repository_defaults": "refused", "says": result.stdout.strip()},
    )


@pytest.mark.parametrize("where", [".env.local", "shell"])
def test_make_up_refuses_before_compose_starts_anything(tmp_path: Path, where: str) -> None:
    """From .env.local or from the shell (which Compose lets win over both files)."""
    lab = tmp_path / "lab"
    lab.mkdir()
    for name in ("Makefile", ".env", "compose.yaml", "requirements-dev.lock", "pyproject.toml"):
        (lab / name).write_bytes((ROOT / name).read_bytes())
    (lab / "scripts").symlink_to(ROOT / "scripts")
    docker = install_docker_standin(tmp_path / "standin")
    calls = tmp_path / "docker-calls.log"
    env = {
        **os.environ,
        "PATH": f"{docker.parent}:{os.environ['PATH']}",
        "STANDIN_LOG": str(calls),
    }
    env.pop("FAULTLINE_LAB_DIR", None)
    if where == "shell":
        env["BIND_ADDRESS"] = EVERYWHERE
    else:
        (lab / ".env.local").write_text(f"BIND_ADDRESS={EVERYWHERE}\n")
    result = subprocess.run(
        ["make", "--no-print-directory", "up"],
        cwd=lab,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Refusing to publish the lab on BIND_ADDRESS=0.0.0.0" in result.stdout
    assert not any(line.startswith("compose") for line in calls.read_text().splitlines())
    record(
        "make_up_exposed",
        {"BIND_ADDRESS": EVERYWHERE, "exit": result.returncode, "compose_commands_run": 0},
    )
