"""compose.yaml, the Dockerfiles and the Makefile checked against what the pinned images really
do (tests/stack/images.yml, each fact sourced upstream). These are the checks that would have
caught the defects that kept `make up` from starting: a pip mode the Locust image refuses, one
tag built by three services, a PostgreSQL health that passes before TCP listens, memory below a
documented minimum."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.support.stack_files import ROOT, image_key, load_env, megabytes

FACTS: dict[str, Any] = yaml.safe_load((ROOT / "tests" / "stack" / "images.yml").read_text())
IMAGES: dict[str, dict[str, Any]] = FACTS["images"]
# Our own images: built from a pinned base; what they add is in our Dockerfiles.
LOCAL_IMAGES = {
    "faultline-api:local": {"base": "PYTHON_IMAGE", "binaries": {"python", "faultline", "sh"}},
    "faultline-loadgen:local": {"base": "LOCUST_IMAGE", "binaries": {"python", "locust", "sh"}},
}
REQUIRED_FACTS = {"uid", "shell", "binaries", "first_start", "memory_min_mb"}


def fact(key: str, name: str) -> Any:
    return IMAGES[key][name]["value"]


def image_facts(service: dict[str, Any]) -> tuple[set[str], bool]:
    """(binaries, has a shell) of the image a service runs."""
    key = image_key(service)
    if key in LOCAL_IMAGES:
        return set(LOCAL_IMAGES[key]["binaries"]), True
    return set(fact(key, "binaries")), bool(fact(key, "shell"))


def test_every_pinned_image_has_sourced_facts_for_exactly_its_pin() -> None:
    env = load_env()
    pinned = {key for key in env if key.endswith("_IMAGE")}
    assert set(IMAGES) == pinned
    for key, facts in IMAGES.items():
        assert facts["image"] == env[key], f"{key}: facts are for {facts['image']}; re-read them"
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", facts["read"]["repo"]), key
        assert re.fullmatch(r"[0-9a-f]{40}", facts["read"]["commit"]), key
        assert facts.keys() >= REQUIRED_FACTS, f"{key}: missing {REQUIRED_FACTS - facts.keys()}"
        for name, value in facts.items():
            if isinstance(value, dict) and "value" in value:
                assert str(value.get("source", "")).strip(), f"{key}.{name} has no source"
    assert FACTS["unsourced"], "say what could not be sourced"


def test_healthchecks_call_only_what_the_image_has(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        if not check:
            continue
        binaries, shell = image_facts(service)
        test = check["test"]
        assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck must be a list"
        if test[0] == "CMD-SHELL":
            assert shell, f"{name}: CMD-SHELL in an image with no shell"
        else:
            assert test[1] in binaries, f"{name}: the image has no {test[1]}"


def test_images_without_a_shell_have_no_shell_anywhere(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        _, shell = image_facts(service)
        if shell:
            continue
        for key in ("command", "entrypoint"):
            value = service.get(key)
            assert not isinstance(value, str), f"{name}: string {key} needs a shell"


def test_postgres_health_is_the_tcp_that_dependents_use(compose: dict[str, Any]) -> None:
    """The entrypoint's temporary first-start server listens on the socket only (images.yml)."""
    assert "listen_addresses=''" in fact("POSTGRES_IMAGE", "first_start")
    test = compose["services"]["postgres"]["healthcheck"]["test"]
    assert test[1] == "pg_isready"
    assert any(arg in ("--host=127.0.0.1", "-h") for arg in test), test
    assert "postgres:5432" in compose["x-api-environment"]["DATABASE_URL"]


def test_named_volumes_mount_where_the_image_keeps_its_data_and_its_user_owns_it(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        key = image_key(service)
        for volume in service.get("volumes", []):
            source, target = str(volume).split(":")[:2]
            if source.startswith((".", "/")):
                continue  # a bind mount of the repository, read-only config
            if key in IMAGES:
                data = IMAGES[key].get("data_dir")
                assert data, f"{name}: no sourced data_dir for {key}"
                assert target == data["value"], f"{name}: data lives at {data['value']}"
                assert data["owned_by_uid"], f"{name}: {target} is not the image user's"
            else:
                dockerfile = (ROOT / "api" / "Dockerfile").read_text()
                assert re.search(rf"install --directory --owner=10001 .*{target}", dockerfile)


def test_every_image_tag_is_built_once_and_never_pulled(compose: dict[str, Any]) -> None:
    builders: dict[str, list[str]] = {}
    for name, service in compose["services"].items():
        if "build" in service:
            builders.setdefault(service["image"], []).append(name)
    assert all(len(names) == 1 for names in builders.values()), builders
    for name, service in compose["services"].items():
        if service.get("image") in builders and "build" not in service:
            assert service.get("pull_policy") == "never", f"{name} would try to pull a local tag"


def test_pip_installs_the_way_each_base_image_allows() -> None:
    dockerfiles = {
        "PYTHON_IMAGE": ROOT / "api" / "Dockerfile",
        "LOCUST_IMAGE": ROOT / "loadtest" / "Dockerfile",
    }
    for key, path in dockerfiles.items():
        text = path.read_text()
        assert load_env()[key] in text, f"{path}: default base must be the .env pin"
        mode = fact(key, "pip")
        pip_lines = [
            line
            for line in text.splitlines()
            if re.search(r"\bpip install\b", line) and not line.lstrip().startswith("#")
        ]
        assert pip_lines, path
        for line in pip_lines:
            assert "--user" not in line, f"{path}: pip refuses --user in {mode} images: {line}"
            assert "--break-system-packages" not in line, line
            if mode == "system":
                assert "/opt/venv/bin/pip" in line, f"{path}: install into our own venv: {line}"


def lock_entries(path: Path) -> dict[str, str]:
    """Each `name==version` entry of a lock file with its --hash lines, comments dropped."""
    entries: dict[str, str] = {}
    name = ""
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9][\w.-]*)==", line):
            name = match.group(1)
            entries[name] = line
        elif name and line.strip().startswith("--hash="):
            entries[name] += "\n" + line
    return entries


def test_the_loadgen_image_pins_what_the_lock_files_pin() -> None:
    locks = {
        **lock_entries(ROOT / "requirements-dev.lock"),
        **lock_entries(ROOT / "api" / "requirements.lock"),
    }
    loadgen = lock_entries(ROOT / "loadtest" / "requirements.lock")
    assert loadgen
    for name, entry in loadgen.items():
        assert entry == locks[name], f"loadtest/requirements.lock {name} differs from the locks"
    dockerfile = (ROOT / "loadtest" / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "loadtest/requirements.lock" in dockerfile
    assert not re.findall(r"[\w-]+==[\w.]+", dockerfile), "pins belong in the lock file"
    locust = locks["locust"].partition("==")[2].split()[0]
    assert locust == load_env()["LOCUST_IMAGE"].rpartition(":")[2]


def test_memory_limits_meet_every_documented_minimum(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        key = image_key(service)
        if key not in IMAGES:
            continue
        minimum = fact(key, "memory_min_mb")
        limit = megabytes(service["deploy"]["resources"]["limits"]["memory"])
        if minimum is not None:
            assert limit >= minimum, f"{name}: {limit:.0f} MB < documented {minimum} MB"


def test_every_memory_limit_says_why(compose: dict[str, Any]) -> None:
    """Each limit is justified in a comment beside it (an upstream minimum or a measurement)."""
    lines = (ROOT / "compose.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s+memory: \d+[mg]$", line):
            context = "\n".join(lines[max(0, number - 4) : number])
            assert "#" in context, f"compose.yaml line {number + 1}: say why {line.strip()}"


def test_the_memory_leak_scenario_fits_under_the_api_limit(compose: dict[str, Any]) -> None:
    """memory-climbing must show its signal before the container limit kills the replica:
    the fault's cap plus the API's own ~100 MiB (docs/) under the limit."""
    limit = megabytes(compose["services"]["api"]["deploy"]["resources"]["limits"]["memory"])
    baseline_mb = 128
    caps = [
        faults["memory_leak"]["max_mb"]
        for path in (ROOT / "scenarios").glob("*.yml")
        if path.name != "signal-contract.yml"
        for step in yaml.safe_load(path.read_text()).get("timeline", [])
        for faults in [step.get("faults") or {}]
        if "memory_leak" in faults
    ]
    contract = yaml.safe_load((ROOT / "scenarios" / "signal-contract.yml").read_text())
    caps.append(contract["faults"]["memory_leak"]["params"]["max_mb"])
    assert caps and max(caps) + baseline_mb <= limit, (caps, limit)


def test_the_compose_version_floor_is_the_one_doctor_checks() -> None:
    doctor = (ROOT / "scripts" / "doctor.sh").read_text()
    assert f"MIN_COMPOSE={FACTS['compose']['min_version']['value']}" in doctor
    assert "start_interval" not in (ROOT / "compose.yaml").read_text()
