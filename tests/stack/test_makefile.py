"""The Makefile as a laptop runs it: with Docker, every workshop target works without a Python on
the host and every compose command sees .env and .env.local; without an engine, the native lab.
Recipes and scripts on that path are POSIX sh and GNU make 3.81 (what macOS has), run here under
dash. A stand-in `docker` (tests/support/docker_standin.py) plays the engine that cannot run
here; `make -n` prints what would run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from labkit import native_lab
from labkit.prometheus import dns_names
from tests.support.docker_standin import install_docker_standin

ROOT = Path(__file__).resolve().parents[2]
WORKSHOP_TARGETS = {
    "up": "",
    "down": "",
    "ps": "",
    "logs": "",
    "fault": "NAME=latency ARGS=delay_ms=300",
    "faults": "",
    "heal": "",
    "pages": "",
    "timeline": "",
    "scenarios": "",
    "scenario": "NAME=checkout-hangs",
    "reveal": "",
    "load": "",
    "verify": "",
}
# Scripts the Docker path runs on the host (macOS /bin/sh is bash 3.2; Linux's is often dash).
POSIX_SCRIPTS = [
    "docker-engine.sh",
    "doctor.sh",
    "wait-ready.sh",
    "print-urls.sh",
    "check-exposure.sh",
    "env.sh",
]
GNU_ONLY = [
    r"\btimeout\s",
    r"sed -i",
    r"readlink -f",
    r"date -d",
    r"stat -c",
    r"\bnproc\b",
    r"sort -V",
    r"grep -P",
    r"declare -A",
    r"\bmapfile\b",
    r"\breadarray\b",
    r"\[\[",
]
MAKE_382_PLUS = [
    r"^\.ONESHELL",
    r"^\s*undefine\b",
    r"\$\(file\s",
    r"^[A-Za-z_]+\s*!=",
    r"::=",
    r"\.RECIPEPREFIX",
    r"\$\(guile",
]


@pytest.fixture()
def lab_copy(tmp_path: Path) -> Path:
    """The files the Makefile reads, in a scratch directory (so .env.local can be written)."""
    for name in ("Makefile", ".env", "compose.yaml", "requirements-dev.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    return tmp_path


def dry_run(directory: Path, target: str, args: str = "", docker: Path | None = None) -> str:
    path = os.environ["PATH"]
    if docker is not None:
        path = f"{docker.parent}:{path}"
    env = {**os.environ, "PATH": path}
    env.pop("FAULTLINE_LAB_DIR", None)
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target, *args.split()],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("target", sorted(WORKSHOP_TARGETS))
def test_with_docker_every_workshop_target_needs_no_host_python(
    lab_copy: Path, tmp_path: Path, target: str
) -> None:
    docker = install_docker_standin(tmp_path / "standin")
    commands = dry_run(lab_copy, target, WORKSHOP_TARGETS[target], docker)
    assert not re.search(r"\.venv|python3|\bpip\b|/bin/python", commands), commands
    tools = {"fault", "faults", "heal", "pages", "timeline", "scenarios", "scenario", "reveal"}
    if target in tools | {"verify"}:
        assert "run --rm --no-deps tools" in commands, commands
    if target == "load":
        assert "run --rm --no-deps" in commands and " loadgen " in commands
        assert "--host http://proxy:8000" in commands
    for script in re.findall(r"scripts/([\w-]+\.sh)", commands):
        assert script in POSIX_SCRIPTS, f"{target} runs {script}, which is not checked as POSIX"


@pytest.mark.parametrize("target", ["up", "down", "logs", "fault", "load", "verify"])
def test_every_compose_command_sees_env_and_env_local(
    lab_copy: Path, tmp_path: Path, target: str
) -> None:
    docker = install_docker_standin(tmp_path / "standin")
    (lab_copy / ".env.local").write_text("FAULTLINE_ADMIN_TOKEN=mine\n")
    commands = dry_run(lab_copy, target, WORKSHOP_TARGETS[target], docker)
    compose_lines = [line for line in commands.splitlines() if "docker compose" in line]
    assert compose_lines, commands
    for line in compose_lines:
        for invocation in re.findall(r"docker compose(?: --env-file \S+)*", line):
            assert invocation == "docker compose --env-file .env --env-file .env.local", line


def test_without_env_local_compose_gets_only_env(lab_copy: Path, tmp_path: Path) -> None:
    docker = install_docker_standin(tmp_path / "standin")
    commands = dry_run(lab_copy, "up", docker=docker)
    assert "docker compose --env-file .env up --detach --build --wait" in commands


def test_no_compose_command_bypasses_the_makefiles_variable() -> None:
    makefile = (ROOT / "Makefile").read_text()
    literal = [line for line in makefile.splitlines() if "docker compose" in line]
    assert literal == ["DOCKER_COMPOSE ?= docker compose"], literal
    for script in (ROOT / "scripts").glob("*.sh"):
        for line in script.read_text().splitlines():
            for after in re.findall(r"docker compose (\S+)", line.split("#")[0]):
                assert after in ("version", "$compose_env"), f"{script}: {line}"


def test_a_running_native_lab_takes_the_workshop_targets_even_with_docker(
    lab_copy: Path, tmp_path: Path
) -> None:
    docker = install_docker_standin(tmp_path / "standin")
    (lab_copy / ".lab" / "pids").mkdir(parents=True)
    (lab_copy / ".lab" / "pids" / "api.pid").write_text("1\n")
    commands = dry_run(lab_copy, "fault", "NAME=latency", docker)
    assert ".venv/bin/faultline fault latency" in commands and "tools" not in commands


def test_without_an_engine_make_up_starts_the_native_lab(lab_copy: Path) -> None:
    """This machine's real docker CLI (if any) has no engine behind it, as on a laptop whose
    Docker Desktop is not running."""
    commands = dry_run(lab_copy, "up")
    assert "starting the native lab instead" in commands
    assert "docker compose" not in commands


def test_recipes_and_host_scripts_are_posix_and_make_381() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^SHELL := /bin/sh$", makefile, re.M)
    for pattern in MAKE_382_PLUS:
        assert not re.search(pattern, makefile, re.M), pattern
    texts = {"Makefile": makefile} | {
        name: (ROOT / "scripts" / name).read_text() for name in POSIX_SCRIPTS
    }
    for name, text in texts.items():
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        for pattern in GNU_ONLY:
            assert not re.search(pattern, code), f"{name}: {pattern} is not on macOS"
    for name in POSIX_SCRIPTS:
        script = ROOT / "scripts" / name
        assert script.read_text().startswith("#!/bin/sh\n"), name
        for shell in ("dash", "bash"):
            flags = ["-n"] if shell == "dash" else ["--posix", "-n"]
            checked = subprocess.run([shell, *flags, str(script)], capture_output=True, text=True)
            assert checked.returncode == 0, f"{shell}: {name}: {checked.stderr}"


def test_the_virtualenv_refuses_a_python_other_than_3_11(lab_copy: Path, tmp_path: Path) -> None:
    """A host Python 3.12/3.13 gets one clear line, not a failed build halfway through the lock."""
    fake = tmp_path / "python3.13"
    fake.write_text("#!/bin/sh\nexec python3 -c 'import sys; sys.exit(1)'\n")
    fake.chmod(0o755)
    result = subprocess.run(
        ["make", "--no-print-directory", "install", f"PYTHON={fake}", "VENV=.venv-test"],
        cwd=lab_copy,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "needs Python 3.11" in result.stdout + result.stderr
    assert not (lab_copy / ".venv-test").exists()


@pytest.mark.parametrize("replicas", ["0", "6", "three"])
def test_make_up_refuses_more_replicas_than_prometheus_names(
    lab_copy: Path, tmp_path: Path, replicas: str
) -> None:
    """Prometheus finds replicas by name (faultline-api-1 to -N): a sixth would not be scraped,
    so `make up` says so before starting anything."""
    docker = install_docker_standin(tmp_path / "standin")
    log = tmp_path / "docker.log"
    env = {**os.environ, "PATH": f"{docker.parent}:{os.environ['PATH']}", "STANDIN_LOG": str(log)}
    result = subprocess.run(
        ["make", "--no-print-directory", "up", f"REPLICAS={replicas}"],
        cwd=lab_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"REPLICAS={replicas}: choose 1 to 5 API replicas." in result.stderr
    assert "compose" not in (log.read_text() if log.exists() else "")


def test_max_replicas_is_the_number_of_replica_names_prometheus_scrapes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    found = re.search(r"^MAX_REPLICAS := (\d+)$", makefile, re.MULTILINE)
    assert found, "Makefile: MAX_REPLICAS := N"
    maximum = int(found[1])
    names = dns_names("api")
    # Compose names containers <project>-<service>-<number>; the project is `faultline`.
    assert yaml.safe_load((ROOT / "compose.yaml").read_text())["name"] == "faultline"
    assert names == [f"faultline-api-{n}" for n in range(1, maximum + 1)]


def test_make_up_with_workers_makes_locust_a_master_with_that_many_workers(
    lab_copy: Path, tmp_path: Path
) -> None:
    docker = install_docker_standin(tmp_path / "standin")
    alone = dry_run(lab_copy, "up", docker=docker)
    assert "--scale loadgen-worker=0" in alone and "LOADGEN_MASTER" not in alone
    distributed = dry_run(lab_copy, "up", "LOADGEN_WORKERS=3", docker)
    (line,) = [line for line in distributed.splitlines() if " up --detach" in line]
    assert line.startswith("LOADGEN_MASTER=true LOADGEN_EXPECT_WORKERS=3 docker compose")
    assert "--scale loadgen-worker=3" in distributed
    load = dry_run(lab_copy, "load", "WORKERS=2", docker)
    assert "--processes 2" in load and "--processes" not in dry_run(lab_copy, "load", "", docker)


@pytest.mark.parametrize(
    ("setting", "target"), [("LOADGEN_WORKERS=9", "up"), ("WORKERS=x", "load")]
)
def test_worker_counts_beyond_the_bound_are_refused_before_anything_runs(
    lab_copy: Path, tmp_path: Path, setting: str, target: str
) -> None:
    docker = install_docker_standin(tmp_path / "standin")
    result = subprocess.run(
        ["make", "--no-print-directory", target, setting],
        cwd=lab_copy,
        env={**os.environ, "PATH": f"{docker.parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "choose 0 to 8" in result.stderr, result.stderr


def test_the_worker_bound_is_the_native_labs() -> None:
    found = re.search(r"^MAX_LOADGEN_WORKERS := (\d+)$", (ROOT / "Makefile").read_text(), re.M)
    assert found and int(found[1]) == native_lab.MAX_WORKERS
