"""A lab per team on an existing Kubernetes cluster (deploy/kubernetes), for a room of learners.

    make room TEAM=red                  the team's overlay (made once), applied; waits until ready
    make room-open TEAM=red [OFFSET=10] its Grafana and console on this machine (port-forward)
    make room-down TEAM=red             the team's namespace deleted, its data with it

Each team gets the namespace faultline-<team> and an overlay in deploy/kubernetes/teams/<team>/
(ignored by git): the namespace, the team's own Secret (admin token, PostgreSQL password, pager
token, Grafana's admin password; random, made once, kept in secrets.env, 0600) and nothing else:
everything the lab runs is deploy/kubernetes/base. IMAGE_REGISTRY=registry.example/faultline
makes the overlay pull the project's two images from there (push them first).

Kubernetes does the work: `kubectl apply --server-side -k` (the dashboards' ConfigMap is too large
for client-side apply's annotation), `kubectl rollout status`, `kubectl port-forward`.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "deploy" / "kubernetes" / "base"
TEAMS = Path(os.environ.get("FAULTLINE_TEAMS_DIR", ROOT / "deploy" / "kubernetes" / "teams"))
TEAM_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?")
SECRET_KEYS = (
    "FAULTLINE_ADMIN_TOKEN",
    "POSTGRES_PASSWORD",
    "ALERT_WEBHOOK_TOKEN",
    "GRAFANA_ADMIN_PASSWORD",
)
OWN_IMAGES = ("faultline-api", "faultline-loadgen")
# Waited for in this order: the data first, the API's migration, then everything else.
ROLLOUTS = (
    "statefulset/postgres",
    "deployment/redis",
    "job/migrate",
    "deployment/api",
    "deployment/control",
    "deployment/loadgen",
    "deployment/loadgen-worker",
    "deployment/otel-collector",
    "deployment/prometheus",
    "deployment/alertmanager",
    "deployment/loki",
    "deployment/tempo",
    "deployment/grafana",
)


def namespace(team: str) -> str:
    return f"faultline-{team}"


def checked(team: str) -> str:
    if not TEAM_NAME.fullmatch(team):
        raise SystemExit(
            f"TEAM={team!r}: lowercase letters, digits and '-', 1 to 32, as in `red` or `team-7`"
        )
    return team


def team_secrets(directory: Path) -> dict[str, str]:
    """The team's secrets: made once (URL-safe: the password goes into a URL), then kept."""
    path = directory / "secrets.env"
    known = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name in SECRET_KEYS and value:
                known[name] = value
    wanted = {name: known.get(name) or secrets.token_urlsafe(24) for name in SECRET_KEYS}
    if wanted != known:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{name}={value}\n" for name, value in wanted.items())
    return wanted


def overlay(team: str, registry: str | None) -> str:
    """The team's kustomization: its namespace and its Secret on top of the base."""
    directory = TEAMS / team
    images = "".join(
        f"  - name: {image}\n    newName: {registry.rstrip('/')}/{image}\n"
        for image in OWN_IMAGES
        if registry
    )
    return f"""# Team {team}'s lab, made by `make room TEAM={team}` (scripts/room.py). Only the
# namespace and the team's secrets are its own: everything else is deploy/kubernetes/base.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {namespace(team)}
resources:
  - namespace.yaml
  - {os.path.relpath(BASE, directory)}
secretGenerator:
  - name: faultline-secrets
    envs: [secrets.env]
{"images:" + chr(10) + images if images else ""}"""


def write_overlay(team: str, registry: str | None) -> Path:
    directory = TEAMS / checked(team)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    team_secrets(directory)
    (directory / "namespace.yaml").write_text(
        f"""# Pods here must meet the `restricted` Pod Security Standard (non-root, no privilege
# escalation, every capability dropped, the runtime's seccomp profile), as every base pod does.
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace(team)}
  labels:
    faultline.dev/team: {team}
    pod-security.kubernetes.io/enforce: restricted
"""
    )
    (directory / "kustomization.yaml").write_text(overlay(team, registry))
    return directory


def kubectl(*args: str) -> None:
    binary = shutil.which("kubectl")
    if not binary:
        raise SystemExit("kubectl is needed (https://kubernetes.io/docs/tasks/tools/)")
    print("+ kubectl " + " ".join(args), flush=True)
    if subprocess.run([binary, *args], check=False).returncode:
        raise SystemExit(f"kubectl {args[0]} failed")


def up(team: str, registry: str | None, timeout: str) -> int:
    directory = write_overlay(team, registry)
    # A Job's pod template cannot change once applied (a new image tag would fail the apply), and
    # `faultline setup` is safe to run again: the migration is re-made on every `make room`.
    kubectl("-n", namespace(team), "delete", "job/migrate", "--ignore-not-found")
    kubectl("apply", "--server-side", "--field-manager=faultline-room", "-k", str(directory))
    for rollout in ROLLOUTS:
        wait = (
            ["wait", "--for=condition=complete"]
            if rollout.startswith("job/")
            else ["rollout", "status"]
        )
        kubectl("-n", namespace(team), *wait, rollout, f"--timeout={timeout}")
    token = team_secrets(directory)["FAULTLINE_ADMIN_TOKEN"]
    print(f"""
Team {team}'s lab is up in namespace {namespace(team)}.
  Reach it from this machine:  make room-open TEAM={team}   (Grafana :3000, console :8080)
  Admin token (console, make fault):  {token}
  Grafana's admin password:  {directory}/secrets.env
  Tear it down:  make room-down TEAM={team}""")
    return 0


def open_ports(team: str, offset: int) -> int:
    """Grafana and the console of one team on this machine's loopback, until Ctrl-C."""
    binary = shutil.which("kubectl") or "kubectl"
    forwards = {"grafana": 3000, "control": 8080, "loadgen": 8089}
    processes = [
        subprocess.Popen(
            [
                binary,
                "-n",
                namespace(checked(team)),
                "port-forward",
                f"svc/{service}",
                f"{port + offset}:{port}",
            ]
        )
        for service, port in forwards.items()
    ]
    for service, port in forwards.items():
        print(f"  {service:8} http://127.0.0.1:{port + offset}/")
    try:
        for process in processes:
            process.wait()
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
    return 0


def down(team: str) -> int:
    kubectl("delete", "namespace", namespace(checked(team)), "--ignore-not-found", "--wait")
    shutil.rmtree(TEAMS / team, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("render", "up", "open", "down"):
        command = sub.add_parser(name)
        command.add_argument("team")
        command.add_argument("--registry", default=os.environ.get("IMAGE_REGISTRY") or None)
        command.add_argument("--timeout", default="300s")
        command.add_argument("--offset", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "render":
        print(write_overlay(args.team, args.registry))
        return 0
    if args.command == "up":
        return up(checked(args.team), args.registry, args.timeout)
    if args.command == "open":
        return open_ports(args.team, args.offset)
    return down(args.team)


if __name__ == "__main__":
    sys.exit(main())
