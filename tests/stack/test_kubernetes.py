"""The Kubernetes lab (deploy/kubernetes), checked where no cluster runs: `kubectl kustomize`
renders the base and two team overlays made by the room tool (scripts/room.py); every object
validates against the Kubernetes schemas of the version kind runs in the workflow; and the
promises hold: the config files compose mounts are the ConfigMaps' content (not copies), images
are .env's pins, every container has probes, requests and limits and runs as the image's non-root
user, Prometheus's only permission is pod discovery in its namespace, and each team's lab keeps
to itself. The cluster itself runs in .github/workflows/kubernetes.yml."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from labkit.prometheus import kubernetes_config
from scripts import room
from tests.support.stack_files import load_env, megabytes

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes" / "base"
# kubectl here is v1.32 (its Kustomize renders); the workflow's kind node runs the same minor.
KUBERNETES_VERSION = "1.32.0"
OWN_IMAGES = {"faultline-api:local": "api/Dockerfile", "faultline-loadgen:local": "LOCUST_IMAGE"}
IMAGES = yaml.safe_load((ROOT / "tests" / "stack" / "images.yml").read_text())["images"]
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
# A Locust worker serves nothing: no endpoint to probe (its master lists the workers it has).
UNPROBED = {"loadgen-worker"}


def kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with Kustomize) is needed: it is on these machines"
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Two team overlays, as `make room TEAM=red` and `TEAM=blue` write them."""
    saved = room.TEAMS
    room.TEAMS = tmp_path_factory.mktemp("teams")
    try:
        yield {team: room.write_overlay(team, None) for team in ("red", "blue")}
    finally:
        room.TEAMS = saved


@pytest.fixture(scope="module")
def rendered(teams: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    return {"base": kustomize(BASE), **{team: kustomize(path) for team, path in teams.items()}}


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] in WORKLOADS}


def pod(workload: dict[str, Any]) -> dict[str, Any]:
    return dict(workload["spec"]["template"]["spec"])


def unhashed(name: str) -> str:
    """A generated ConfigMap's or Secret's name without Kustomize's content hash."""
    return name.rsplit("-", 1)[0]


def test_every_overlay_renders_and_validates_against_the_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for overlay, docs in rendered.items():
        assert len(docs) > 40, overlay
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                name = f"{doc['kind']}/{doc['metadata']['name']}"
                raise AssertionError(f"{overlay}: {name}: {error}") from error


def test_the_validator_really_validates() -> None:
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    broken["spec"] = {"replicas": "two", "selector": {}, "template": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_a_team_overlay_sets_only_the_namespace_and_the_teams_secret(
    rendered: dict[str, list[dict[str, Any]]], teams: dict[str, Path]
) -> None:
    base = rendered["base"]
    assert not objects(base, "Secret") and not objects(base, "Namespace")
    assert all("namespace" not in doc["metadata"] for doc in base)
    secrets = {}
    for team in teams:
        docs = rendered[team]
        (namespace,) = objects(docs, "Namespace").values()
        assert namespace["metadata"]["name"] == f"faultline-{team}"
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"} == {
            f"faultline-{team}"
        }
        (secret,) = objects(docs, "Secret").values()
        assert unhashed(secret["metadata"]["name"]) == "faultline-secrets"
        assert set(secret["data"]) == set(room.SECRET_KEYS)
        secrets[team] = secret["data"]
        # Beyond those two, the team's lab is the base, object for object (namespaced).
        team_lab = [doc for doc in docs if doc["kind"] not in ("Secret", "Namespace")]
        assert dump(team_lab, secret["metadata"]["name"], f"faultline-{team}") == dump(
            base, "faultline-secrets", None
        )
    assert set(secrets["red"].values()).isdisjoint(secrets["blue"].values())


def dump(docs: list[dict[str, Any]], secret: str, namespace: str | None) -> list[str]:
    """The objects as YAML lines, the Secret's name and the namespace taken out."""
    lines = yaml.safe_dump(docs).replace(secret, "SECRET").splitlines()
    return [line for line in lines if line.strip() != f"namespace: {namespace}"]


def test_the_room_tool_keeps_a_teams_secrets_private_and_stable(teams: dict[str, Path]) -> None:
    path = teams["red"] / "secrets.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    room.write_overlay("red", None)
    assert path.read_text() == before
    with pytest.raises(SystemExit, match="lowercase"):
        room.checked("Red Team")


def compose_bind_mounts(compose: dict[str, Any]) -> Iterator[tuple[str, Path, str]]:
    """(service, file in the repository, where the container sees it) for every config file
    compose mounts; a mounted directory gives each file under it."""
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, _, target = str(volume).partition(":")
            target = target.removesuffix(":ro")
            if not source.startswith("./") or source == ".":
                continue
            path = ROOT / source
            if path.is_file():
                yield name, path, target
                continue
            for file in sorted(path.rglob("*")):
                if file.is_file() and file.name != "kustomization.yaml":
                    yield name, file, f"{target}/{file.relative_to(path)}"


# Compose files Kubernetes does not use as they are: the proxy's job is the `api` Service's, and
# Prometheus finds the API's pods through the Kubernetes API (its own config, checked below).
NOT_IN_KUBERNETES = {"proxy/nginx.conf", "prometheus/prometheus.yml"}


def test_configmaps_are_the_files_compose_mounts_where_compose_mounts_them(
    compose: dict[str, Any], rendered: dict[str, list[dict[str, Any]]]
) -> None:
    docs = rendered["base"]
    configmaps = {unhashed(name): cm for name, cm in objects(docs, "ConfigMap").items()}
    deployed = workloads(docs)
    checked = 0
    for service, file, target in compose_bind_mounts(compose):
        if str(file.relative_to(ROOT)) in NOT_IN_KUBERNETES:
            continue
        spec = pod(deployed[service])
        volumes = {v["name"]: v for v in spec["volumes"]}
        (container,) = [c for c in spec["containers"] if c["name"] == service]
        directory, _, filename = target.rpartition("/")
        mounts = [
            volumes[m["name"]]["configMap"]["name"]
            for m in container["volumeMounts"]
            if m["mountPath"] == directory and "configMap" in volumes[m["name"]]
        ]
        assert len(mounts) == 1, f"{service}: nothing mounted at {directory} for {file}"
        data = configmaps[unhashed(mounts[0])]["data"]
        assert data[filename] == file.read_text(), f"{file} differs in {mounts[0]}"
        checked += 1
    assert checked >= 11  # rules, alertmanager, collector, Loki, Tempo, 2 provisioning, 6 boards


def test_each_config_directory_generates_its_configmaps_from_its_own_files() -> None:
    """The generators name the files compose mounts, in place (never a copy under deploy/)."""
    for directory in ("prometheus", "alertmanager", "otel-collector", "loki", "tempo", "grafana"):
        kustomization = yaml.safe_load((ROOT / directory / "kustomization.yaml").read_text())
        for generator in kustomization["configMapGenerator"]:
            for file in generator["files"]:
                assert (ROOT / directory / file).is_file(), (directory, file)
    copies = [p for p in (ROOT / "deploy").rglob("*") if p.suffix in (".json", ".rules.yml")]
    assert copies == []


def kubernetes_prometheus() -> dict[str, Any]:
    return dict(yaml.safe_load((BASE / "prometheus.yml").read_text()))


def test_the_kubernetes_prometheus_config_is_generated_from_composes() -> None:
    """deploy/kubernetes/base/prometheus.yml is `python -m labkit.prometheus`'s output: a change
    to prometheus/prometheus.yml must be carried over by running it."""
    assert (BASE / "prometheus.yml").read_text() == kubernetes_config()


def test_the_kubernetes_prometheus_config_is_composes_but_for_finding_the_api() -> None:
    compose_config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    config = kubernetes_prometheus()
    jobs = {job["job_name"]: job for job in config.pop("scrape_configs")}
    compose_jobs = {job["job_name"]: job for job in compose_config.pop("scrape_configs")}
    assert config == compose_config
    assert list(jobs) == list(compose_jobs)
    api = jobs.pop("api")
    compose_jobs.pop("api")
    assert jobs == compose_jobs
    (discovery,) = api["kubernetes_sd_configs"]
    assert discovery == {"role": "pod", "namespaces": {"own_namespace": True}}
    assert {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "instance"} in api[
        "relabel_configs"
    ]


def promtool_check(config: dict[str, Any], directory: Path) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found (apt-get install prometheus; scripts/ensure-tools.sh)"
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    return subprocess.run(
        [promtool, "check", "config", str(directory / "prometheus.yml")],
        capture_output=True,
        text=True,
    )


def test_the_kubernetes_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """Debian's promtool is built without Kubernetes discovery (it refuses the key; checked
    below, so that a promtool that has it makes this test check the file whole). So here the
    `api` job's discovery is swapped for a static target and the rest (relabelling included) is
    checked; the kind workflow checks the file as it is with the pinned image's own promtool."""
    config = kubernetes_prometheus()
    assert config["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]
    config["rule_files"] = [str(ROOT / "prometheus" / "rules" / "*.rules.yml")]
    whole = promtool_check(config, tmp_path)
    assert (
        whole.returncode != 0 and "kubernetes_sd_configs not found" in whole.stdout + whole.stderr
    )
    (api,) = [job for job in config["scrape_configs"] if job["job_name"] == "api"]
    api["static_configs"] = [{"targets": ["api:8000"]}]
    del api["kubernetes_sd_configs"]
    result = promtool_check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_prometheus_mounts_its_config_and_rules_where_its_flags_say(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    spec = pod(workloads(rendered["base"])["prometheus"])
    (container,) = spec["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "--config.file=/etc/prometheus/config/prometheus.yml" in container["args"]
    config = volumes[mounts["/etc/prometheus/config"]]["configMap"]["name"]
    rules = volumes[mounts["/etc/prometheus/rules"]]["configMap"]["name"]
    assert (unhashed(config), unhashed(rules)) == ("prometheus-config", "prometheus-rules")


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, workload in workloads(docs).items():
        spec = pod(workload)
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield name, spec, container


def test_images_are_the_pins_of_env_or_the_projects_own(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    pins = {value for key, value in load_env().items() if key.endswith("_IMAGE")}
    used = set()
    for name, _, container in containers(rendered["base"]):
        image = container["image"]
        assert image in pins or image in OWN_IMAGES, f"{name}: {image} is not pinned in .env"
        assert not image.endswith(":latest")
        used.add(image)
    # Every upstream service of compose runs here too, except the proxy (the `api` Service).
    env = load_env()
    expected = pins - {env["PYTHON_IMAGE"], env["LOCUST_IMAGE"], env["PROXY_IMAGE"]}
    assert used - set(OWN_IMAGES) == expected


def test_every_container_has_probes_requests_and_limits(
    compose: dict[str, Any], rendered: dict[str, list[dict[str, Any]]]
) -> None:
    for name, _, container in containers(rendered["base"]):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "memory" in resources["limits"], name
        # The same memory limit as compose gives the service (its comment says why).
        limit = compose["services"][name]["deploy"]["resources"]["limits"]["memory"]
        assert resources["limits"]["memory"] == f"{megabytes(limit):.0f}Mi", name
        is_job = workloads(rendered["base"])[name]["kind"] == "Job"
        if is_job or name in UNPROBED:
            assert "readinessProbe" not in container and "livenessProbe" not in container
            continue
        assert "readinessProbe" in container and "livenessProbe" in container, name


def test_the_api_is_ready_and_live_by_its_own_health_endpoints(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    api = workloads(rendered["base"])["api"]
    assert api["spec"]["replicas"] >= 2
    (container,) = pod(api)["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    env = {e["name"]: e for e in container["env"]}
    assert env["REPLICA_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def expected_uid(image: str) -> int:
    if image == "faultline-api:local":
        dockerfile = (ROOT / "api" / "Dockerfile").read_text()
        return int(dockerfile.split("\nUSER ")[1].split()[0])
    key = OWN_IMAGES.get(image) or next(k for k, v in IMAGES.items() if v["image"] == image)
    return int(IMAGES[key]["uid"]["value"])


def test_every_pod_runs_as_its_images_non_root_user_with_nothing_extra(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for name, spec, container in containers(rendered["base"]):
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        # The image's own user (tests/stack/images.yml), so its files are the process's.
        assert context["runAsUser"] == expected_uid(container["image"]) != 0, name
        own = container["securityContext"]
        assert own["allowPrivilegeEscalation"] is False and own["capabilities"] == {"drop": ["ALL"]}
        assert not own.get("privileged") and not spec.get("hostNetwork"), name
        assert all("hostPath" not in volume for volume in spec.get("volumes", [])), name


def test_prometheus_may_only_discover_pods_in_its_own_namespace(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["base"]
    kinds = {doc["kind"] for doc in docs}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    (role,) = objects(docs, "Role").values()
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    (binding,) = objects(docs, "RoleBinding").values()
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus"}]
    accounts = {name: pod(w).get("serviceAccountName") for name, w in workloads(docs).items()}
    assert {name for name, account in accounts.items() if account} == {"prometheus"}
    assert accounts["prometheus"] == "prometheus"
    # No other pod gets a token for the Kubernetes API at all.
    tokens = {name: pod(w)["automountServiceAccountToken"] for name, w in workloads(docs).items()}
    assert {name for name, mounted in tokens.items() if mounted} == {"prometheus"}


def test_a_teams_pods_take_traffic_from_their_own_namespace_only(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    policies = objects(rendered["base"], "NetworkPolicy")
    lab_only = policies["lab-only"]["spec"]
    assert lab_only["podSelector"] == {} and set(lab_only["policyTypes"]) == {"Ingress", "Egress"}
    assert lab_only["ingress"] == [{"from": [{"podSelector": {}}]}]
    # Egress beyond the namespace: DNS (port 53) for every pod, the Kubernetes API for Prometheus.
    for rule in lab_only["egress"]:
        peers = rule["to"]
        assert peers == [{"podSelector": {}}] or {p["port"] for p in rule["ports"]} == {53}
    (extra,) = [p for name, p in policies.items() if name != "lab-only"]
    assert extra["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    assert extra["spec"]["policyTypes"] == ["Egress"]


def test_the_apps_environment_is_composes(
    compose: dict[str, Any], rendered: dict[str, list[dict[str, Any]]]
) -> None:
    """The settings the API, control and migrate share: what compose's x-api-environment gives
    them (with .env's values), except what Kubernetes says its own way (the database URL's
    password, the admin token: the team's Secret)."""
    env = load_env()
    configmaps = {unhashed(name): cm for name, cm in objects(rendered["base"], "ConfigMap").items()}
    shared = configmaps["api-environment"]["data"]
    for key, value in compose["x-api-environment"].items():
        if key in ("DATABASE_URL", "FAULTLINE_ADMIN_TOKEN"):
            continue
        resolved = str(value)
        for name, setting in env.items():
            resolved = resolved.replace(f"${{{name}}}", setting)
        assert shared[key] == resolved, key


# A stand-in `kubectl` for the cluster this machine does not have: `kustomize` is the real one
# (it renders offline), every other command is recorded and succeeds. The cluster itself is
# .github/workflows/kubernetes.yml's.
KUBECTL_STANDIN = """#!/bin/sh
if [ "$1" = kustomize ]; then exec "{real}" "$@"; fi
echo "$*" >> "{log}"
"""


def test_make_room_applies_the_teams_overlay_and_waits_then_room_down_deletes_it(
    tmp_path: Path,
) -> None:
    real = shutil.which("kubectl")
    assert real
    log = tmp_path / "kubectl.log"
    (tmp_path / "bin").mkdir()
    standin = tmp_path / "bin" / "kubectl"
    standin.write_text(KUBECTL_STANDIN.format(real=real, log=log))
    standin.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "FAULTLINE_TEAMS_DIR": str(tmp_path / "teams"),
    }

    def make(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    up = make("room", "TEAM=green")
    assert up.returncode == 0, up.stdout + up.stderr
    calls = log.read_text().splitlines()
    team = tmp_path / "teams" / "green"
    assert calls[0] == "-n faultline-green delete job/migrate --ignore-not-found"
    assert calls[1] == f"apply --server-side --field-manager=faultline-room -k {team}"
    waits = [call.split()[-2] for call in calls[2:]]
    assert waits == list(room.ROLLOUTS)
    # Every workload the base runs is waited for (an exporter is ready when its port is).
    expected = {
        f"{doc['kind'].lower()}/{name}"
        for name, doc in workloads(kustomize(BASE)).items()
        if not name.endswith("-exporter")
    }
    assert set(waits) == expected
    token = (team / "secrets.env").read_text().split("FAULTLINE_ADMIN_TOKEN=")[1].split()[0]
    assert token in up.stdout and "make room-open TEAM=green" in up.stdout
    assert kustomize(team)  # what was applied renders

    down = make("room-down", "TEAM=green")
    assert down.returncode == 0, down.stdout + down.stderr
    assert log.read_text().splitlines()[-1] == (
        "delete namespace faultline-green --ignore-not-found --wait"
    )
    assert not team.exists()
    assert make("room").returncode == 2
