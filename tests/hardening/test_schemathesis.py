"""Bad input, generated: schemathesis (its own CLI, from the dev lock) against the OpenAPI of the
API and of the control service, both running as real processes, faults off.

Every check schemathesis has is on (`--checks all`): no 5xx, every status and header documented,
every body valid against its schema, invalid input refused, valid input accepted, and the
stateful phase that follows the API's links. Cases per operation: SCHEMATHESIS_MAX_EXAMPLES
(100 here; `make hardening` runs more). The two adjustments made, and why, are in
schemathesis_hooks.py and schemathesis.toml next to this file.

What it found, and what was fixed (not excluded): a NUL byte in `q` gave a 500 (PostgreSQL text
cannot hold NUL; `q` now refuses control characters); 405 answers named only one route's methods
in `Allow`; the control service's fault parameters were a free-form object in its schema (now
one PUT operation per fault with that fault's own parameter model); undocumented 400/503 there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import ANY

import httpx
import pytest

from labkit.api import running_api
from labkit.prometheus import running_prometheus
from labkit.servers import Redis
from tests.hardening.conftest import HardeningApi, redis_url
from tests.support.figures import record

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100"))
TOKEN = "schemathesis-token"
WEBHOOK_TOKEN = "schemathesis-webhook-token"


def schemathesis(
    base_url: str, config: str = "schemathesis.toml", env: dict[str, str] | None = None
) -> tuple[str, dict[str, int]]:
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(HERE / config),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261122",  # reproducible; `make hardening` picks its own seed when asked
        "--workers",
        "2",
        "--no-color",
        "--request-timeout",
        "10",
    ]
    env = {**os.environ, **(env or {}), "SCHEMATHESIS_HOOKS": "tests.hardening.schemathesis_hooks"}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    operations = re.search(r"Tested: (\d+)", output)
    assert generated and operations, output[-3000:]
    counts = {
        "operations": int(operations.group(1)),
        "cases_generated": int(generated.group(1)),
        "cases_passed": int(generated.group(2)),
        "max_examples_per_operation": MAX_EXAMPLES,
    }
    return output, counts


def test_shop_api_survives_schemathesis(hardening_api: HardeningApi) -> None:
    _, counts = schemathesis(hardening_api.url)
    assert counts["operations"] >= 7 and counts["cases_generated"] == counts["cases_passed"]
    assert counts["cases_generated"] >= 3 * MAX_EXAMPLES  # a real run, not a handful
    record("schemathesis_api", counts)


@pytest.fixture(scope="module")
def control(
    redis_server: Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The control service (URL, log) with the admin token and a real Prometheus for charts."""
    with running_prometheus({"nothing": []}) as prometheus:
        env = {
            "REDIS_URL": redis_url(redis_server),
            "FAULTLINE_ADMIN_TOKEN": TOKEN,
            "ALERT_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            "PROMETHEUS_URL": prometheus.url,
            "CONTROL_FAILED_AUTH_LIMIT": "100000/minute",  # rate limiting has its own test
        }
        workdir = tmp_path_factory.mktemp("control")
        env["INCIDENTS_PATH"] = str(workdir / "incidents.jsonl")
        log_path = workdir / "control.log"
        with running_api(env, log_path, command="control") as url:
            yield url, log_path


def test_control_service_survives_schemathesis(control: tuple[str, Path]) -> None:
    control_url, log_path = control
    schema = httpx.get(f"{control_url}/openapi.json").json()
    assert schema["components"]["securitySchemes"]["adminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": ANY,
    }
    # The token reaches schemathesis through the security scheme the OpenAPI document declares
    # (schemathesis-control.toml), not a header forced onto every request.
    _, counts = schemathesis(
        control_url,
        "schemathesis-control.toml",
        {"FAULTLINE_ADMIN_TOKEN": TOKEN, "ALERT_WEBHOOK_TOKEN": WEBHOOK_TOKEN},
    )
    # Writes were made with the token: the audit log names who made them.
    audited = [line for line in log_path.read_text().splitlines() if '"fault.audit"' in line]
    assert audited and all('"actor":"token@' in line for line in audited)
    # One PUT per catalogue fault, DELETE one/all, list, charts, the pager's three.
    assert counts["operations"] >= 15 and counts["cases_generated"] == counts["cases_passed"]
    record("schemathesis_control", counts)
