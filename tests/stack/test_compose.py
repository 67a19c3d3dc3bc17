"""compose.yaml is right by construction: it cannot run on the CI machines (no Docker engine), so
everything that can be checked without the images is checked here."""

from __future__ import annotations

import re
from typing import Any

from tests.support.stack_files import (
    COMPOSE,
    ROOT,
    assert_schema_valid,
    image_key,
    load_env,
    megabytes,
)


def test_validates_against_the_compose_spec() -> None:
    assert_schema_valid("vendor.compose-spec", COMPOSE)


def test_every_variable_is_defined_in_env() -> None:
    env = load_env()
    used = set(re.findall(r"\$\{(\w+)(?::?-[^}]*)?\}", COMPOSE.read_text()))
    assert used, "compose.yaml uses no variables?"
    assert used <= set(env), f"not in .env: {sorted(used - set(env))}"


def test_images_are_pinned_in_env_never_latest(compose: dict[str, Any]) -> None:
    env = load_env()
    for name, service in compose["services"].items():
        key = image_key(service)
        if "build" in service or service.get("pull_policy") == "never":
            assert key.endswith(":local"), f"{name}: locally built image should be tagged :local"
            continue
        assert key in env, f"{name}: image must come from .env, got {service.get('image')}"
        tag = env[key].rpartition(":")[2]
        assert tag and tag != "latest" and env[key].count(":") == 1, f"{name}: unpinned {env[key]}"


def test_service_healthy_dependencies_have_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, condition in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (
                    f"{name} waits for {dep}'s health, which has none"
                )


# Published where BIND_ADDRESS says: what needs no login to read (the shop) or asks for one to
# change anything (the console: the admin token; Grafana: a login or the Viewer role when
# shared, which `make up` enforces). Everything that takes writes with no auth stays on loopback.
SHARED_WHEN_EXPOSED = {"proxy", "control", "grafana"}


def test_published_ports_bind_the_configurable_loopback(compose: dict[str, Any]) -> None:
    assert load_env()["BIND_ADDRESS"] == "127.0.0.1"
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            host = "${BIND_ADDRESS}:" if name in SHARED_WHEN_EXPOSED else "127.0.0.1:"
            assert str(port).startswith(host), f"{name}: {port} must be published on {host}"
    assert "ports" not in compose["services"]["postgres"]
    assert "ports" not in compose["services"]["redis"]
    prometheus = " ".join(compose["services"]["prometheus"]["command"])
    assert "--web.enable-lifecycle" not in prometheus  # POST /-/quit would stop it


def test_every_service_has_memory_limit_restart_policy_and_logging(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service["deploy"]["resources"]["limits"]["memory"], name
        assert "restart" in service, name
        assert "logging" in service, name


def test_mounted_files_exist_and_volumes_are_named(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source} is not declared"


def test_postgres_18_volume_is_mounted_at_the_parent_directory(compose: dict[str, Any]) -> None:
    assert load_env()["POSTGRES_IMAGE"].startswith("postgres:18")
    mounts = [str(v).split(":")[1] for v in compose["services"]["postgres"]["volumes"]]
    assert mounts == ["/var/lib/postgresql"]


def test_loadgen_image_comes_from_env_and_ships_the_locustfile() -> None:
    dockerfile = (ROOT / "loadtest" / "Dockerfile").read_text()
    assert load_env()["LOCUST_IMAGE"] in dockerfile
    assert "loadtest/locustfile.py loadtest/shapes.py" in dockerfile
    assert "!loadtest/" in (ROOT / ".dockerignore").read_text()


def test_the_tools_service_runs_only_on_demand_in_the_api_image(compose: dict[str, Any]) -> None:
    tools = compose["services"]["tools"]
    assert tools["profiles"] == ["tools"] and tools["image"] == compose["services"]["api"]["image"]
    assert "ports" not in tools and ".:/lab:ro" in tools["volumes"]


def test_locust_workers_run_the_loadgen_image_and_report_to_its_master(
    compose: dict[str, Any],
) -> None:
    """`make up LOADGEN_WORKERS=N`: N workers of the loadgen image, none by default; the master
    (loadgen) switches to master mode only when told, and serves the only metrics endpoint."""
    master, worker = compose["services"]["loadgen"], compose["services"]["loadgen-worker"]
    assert worker["image"] == master["image"] and worker["pull_policy"] == "never"
    assert worker["scale"] == 0 and "ports" not in worker
    assert worker["command"][-3:] == ["--worker", "--master-host", "loadgen"]
    assert worker["environment"]["LOADGEN_METRICS_PORT"] == "0"
    assert master["environment"]["LOCUST_MODE_MASTER"] == "${LOADGEN_MASTER:-false}"
    assert worker["depends_on"]["loadgen"]["condition"] == "service_healthy"


def test_dockerfile_is_pinned_non_root_installs_the_lock_and_has_a_healthcheck() -> None:
    dockerfile = (ROOT / "api" / "Dockerfile").read_text()
    assert re.search(r"ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim", dockerfile)
    assert load_env()["PYTHON_IMAGE"] in dockerfile
    assert "requirements.lock" in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile


MEMORY_BUDGET_MB = 3072  # with one API replica; the OpenTelemetry Demo documents 6 GB


def test_memory_limits_add_up_to_at_most_3_gb(compose: dict[str, Any]) -> None:
    """What `make up` starts (services in a profile, such as `tools`, run only on demand; a
    service scaled to 0, such as Locust's workers, only with LOADGEN_WORKERS)."""
    total = sum(
        megabytes(service["deploy"]["resources"]["limits"]["memory"]) * service.get("scale", 1)
        for service in compose["services"].values()
        if not service.get("profiles")
    )
    assert total <= MEMORY_BUDGET_MB, f"{total:.0f} MB of limits"


def test_the_stack_has_every_service_the_lab_needs(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "postgres",
        "redis",
        "migrate",
        "api",
        "proxy",
        "control",
        "loadgen",
        "loadgen-worker",
        "otel-collector",
        "prometheus",
        "alertmanager",
        "loki",
        "tempo",
        "grafana",
        "postgres-exporter",
        "redis-exporter",
        "tools",
    }


def test_only_the_front_doors_are_published(compose: dict[str, Any]) -> None:
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {
        "proxy",
        "control",
        "loadgen",
        "prometheus",
        "alertmanager",
        "loki",
        "tempo",
        "grafana",
    }


def test_the_readme_says_where_each_port_is_published(compose: dict[str, Any]) -> None:
    """README's port table, read against compose.yaml: the service, its port, and whether it is
    published where BIND_ADDRESS says or on loopback only."""
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 4:
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            host, published, _ = str(port).rsplit(":", 2)
            where = "`BIND_ADDRESS`" if host == "${BIND_ADDRESS}" else f"`{host}`"
            env_port = load_env()[published.strip("${}")]
            assert rows[name] == (env_port, where), f"README's row for {name}: {rows.get(name)}"
