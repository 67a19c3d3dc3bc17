"""`make doctor` for real: the native-lab branch on this machine (Docker absent), the Docker
branch with this machine's docker CLI whose engine does not answer, and with a stand-in engine
(tests/support/docker_standin.py) for versions, memory and images that cannot be had here.
It runs under dash, the strictest /bin/sh at hand (macOS runs it with bash 3.2 as sh)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.docker_standin import install_docker_standin
from tests.support.stack_files import megabytes

ROOT = Path(__file__).resolve().parents[2]
DOCTOR = ROOT / "scripts" / "doctor.sh"
PORT_NAMES = [
    line.split("=")[0]
    for line in (ROOT / ".env").read_text().splitlines()
    if re.match(r"^[A-Z_]+_PORT=", line)
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def path_without_docker(tmp: Path) -> str:
    """PATH with every directory that holds `docker` replaced by a copy of it without docker."""
    parts = []
    for index, directory in enumerate(os.environ["PATH"].split(":")):
        if not (Path(directory) / "docker").exists():
            parts.append(directory)
            continue
        shadow = tmp / f"path-{index}"
        shadow.mkdir()
        for entry in Path(directory).iterdir():
            if entry.name != "docker":
                (shadow / entry.name).symlink_to(entry)
        parts.append(str(shadow))
    return ":".join(parts)


@pytest.fixture()
def free_ports() -> dict[str, str]:
    return {name: str(free_port()) for name in PORT_NAMES}


def doctor(
    path: str, extra: dict[str, str], shell: str = "dash"
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root"), **extra}
    return subprocess.run([shell, str(DOCTOR)], env=env, capture_output=True, text=True, timeout=60)


def failures(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("FAIL")]


def every_failure_says_how_to_fix_it(output: str) -> None:
    lines = output.splitlines()
    for number, line in enumerate(lines):
        if line.strip().startswith("FAIL"):
            assert lines[number + 1].strip().startswith("fix: "), line


@pytest.fixture()
def standin(tmp_path: Path) -> Iterator[dict[str, str]]:
    docker = install_docker_standin(tmp_path / "standin")
    yield {"path": f"{docker.parent}:{os.environ['PATH']}", "log": str(tmp_path / "docker.log")}


def test_without_docker_it_checks_the_native_lab(
    tmp_path: Path, free_ports: dict[str, str]
) -> None:
    result = doctor(path_without_docker(tmp_path), free_ports)
    out = result.stdout
    assert "no Docker here: make up starts the native lab" in out
    assert "ok    Python 3.11" in out
    assert re.search(
        r"ok    (PostgreSQL, Redis, Prometheus and the exporters are installed|make lab installs)",
        out,
    )
    assert "ok    ports free on 127.0.0.1" in out
    assert result.returncode == (1 if failures(out) else 0), out
    assert result.returncode == 0, out  # this machine has everything the native lab needs
    assert out.rstrip().endswith("All clear: make up should work here.")


def test_a_busy_port_is_named_with_its_fix(tmp_path: Path, free_ports: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = doctor(path_without_docker(tmp_path), {**free_ports, "GRAFANA_PORT": port})
    assert result.returncode == 1
    assert f"FAIL  ports already in use on 127.0.0.1: GRAFANA_PORT={port}" in result.stdout
    every_failure_says_how_to_fix_it(result.stdout)


def test_docker_installed_but_not_answering_says_how_to_start_it(
    tmp_path: Path, free_ports: dict[str, str]
) -> None:
    """This machine's real docker CLI, with no engine behind it: Docker Desktop not started.
    (On a machine without the CLI, a stand-in that fails as such a CLI does.)"""
    path = os.environ["PATH"]
    if shutil.which("docker") is None:
        cli = tmp_path / "cli" / "docker"
        cli.parent.mkdir()
        cli.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
        cli.chmod(0o755)
        path = f"{cli.parent}:{path}"
    result = doctor(path, free_ports)
    assert result.returncode == 1
    (failure,) = failures(result.stdout)
    assert failure.startswith("FAIL  Docker is installed but its engine does not answer")
    assert "sudo systemctl start docker" in result.stdout
    assert "until then, the native lab's needs" in result.stdout
    every_failure_says_how_to_fix_it(result.stdout)


def test_a_healthy_docker_with_every_image_is_all_clear(
    standin: dict[str, str], free_ports: dict[str, str]
) -> None:
    result = doctor(standin["path"], {**free_ports, "STANDIN_IMAGES": "all"})
    assert result.returncode == 0, result.stdout
    assert "ok    Docker engine 27.3.1" in result.stdout
    assert "ok    Docker Compose 2.29.7" in result.stdout
    assert "every image is here: make up needs no network" in result.stdout


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"STANDIN_COMPOSE": "2.16.0"}, "Docker Compose 2.16.0 is older than 2.17.0"),
        ({"STANDIN_COMPOSE": ""}, "Docker Compose v2 is missing"),
        ({"STANDIN_ENGINE": "19.03.15"}, "Docker engine 19.03.15 is older than 20.10.0"),
        ({"STANDIN_MEM_BYTES": str(2 * 1024**3)}, "Docker may use 2048 MB"),
        ({"POSTGRES_PASSWORD": "p@ss/word"}, "POSTGRES_PASSWORD has a character"),
        ({"BIND_ADDRESS": "0.0.0.0"}, "Refusing to publish the lab on BIND_ADDRESS=0.0.0.0"),  # noqa: S104
    ],
)
def test_each_docker_problem_fails_with_its_fix(
    standin: dict[str, str], free_ports: dict[str, str], settings: dict[str, str], expected: str
) -> None:
    result = doctor(standin["path"], {**free_ports, "STANDIN_IMAGES": "all", **settings})
    assert result.returncode == 1, result.stdout
    assert len(failures(result.stdout)) == 1 and expected in failures(result.stdout)[0]
    every_failure_says_how_to_fix_it(result.stdout)


def test_images_not_pulled_yet_are_named_for_an_offline_room(
    standin: dict[str, str], free_ports: dict[str, str]
) -> None:
    result = doctor(standin["path"], {**free_ports, "STANDIN_IMAGES": "postgres:18.1-alpine"})
    assert "grafana/grafana:13.2.0" in result.stdout and "make pull" in result.stdout
    assert "postgres:18.1-alpine " not in result.stdout.split("not pulled or built yet:")[1]


def test_the_memory_budget_is_compose_yaml_s_own_sum(
    standin: dict[str, str], free_ports: dict[str, str]
) -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for replicas in (1, 3):
        expected = int(
            sum(
                megabytes(service["deploy"]["resources"]["limits"]["memory"])
                * (replicas if name == "api" else 1)
                for name, service in compose["services"].items()
                if not service.get("profiles")
            )
        )
        result = doctor(
            standin["path"], {**free_ports, "STANDIN_IMAGES": "all", "REPLICAS": str(replicas)}
        )
        assert f"the stack's limits add up to {expected} MB (REPLICAS={replicas})" in result.stdout


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_env_local_and_the_shell_override_env_as_compose_does(
    tmp_path: Path, shell: str, free_ports: dict[str, str]
) -> None:
    copy = tmp_path / "lab"
    (copy / "scripts").mkdir(parents=True)
    for name in ("doctor.sh", "docker-engine.sh", "ensure-tools.sh", "check-exposure.sh", "env.sh"):
        shutil.copy(ROOT / "scripts" / name, copy / "scripts" / name)
    shutil.copy(ROOT / ".env", copy / ".env")
    shutil.copy(ROOT / "compose.yaml", copy / "compose.yaml")
    (copy / ".env.local").write_text(
        "BIND_ADDRESS=0.0.0.0\nFAULTLINE_ADMIN_TOKEN=faultline-local-only\n"
    )
    env = {"PATH": path_without_docker(tmp_path), **free_ports}
    run = [shell, str(copy / "scripts" / "doctor.sh")]
    exposed = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert "Refusing to publish the lab" in exposed.stdout  # .env.local read
    shell_wins = subprocess.run(
        run, env={**env, "BIND_ADDRESS": "127.0.0.1"}, capture_output=True, text=True, timeout=60
    )
    assert "Refusing to publish" not in shell_wins.stdout
