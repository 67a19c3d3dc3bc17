"""Every PromQL expression in every dashboard panel and every rule, executed against a real
Prometheus (Debian's) that runs the project's own prometheus.yml and rules, scraping the real
API under Locust load, the control service, the load generator and the real PostgreSQL and Redis
exporters. Expressions on series only the full stack produces (collector, Tempo) are parsed by
Prometheus, not required to return data. LogQL expressions are syntax-checked."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from grafana import dashboards
from labkit.api import running_api
from labkit.net import free_port, wait_for_port
from labkit.prometheus import Prometheus, project_config, running_prometheus
from labkit.servers import Postgres, Redis
from tests.integration.conftest import SEEDED_PRODUCTS
from tests.support.loadgen import headless_locust

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


# Grafana's variables, as a query runs with every replica and route selected at a 1m window.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "1h",
    "$instance": ".+",
    "$route": ".+",
}


def with_variables(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(where, kind, expression) for every query in the committed dashboards, variables set."""
    found = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for annotation in board["annotations"]["list"]:
            found.append(
                (f"{board['uid']} annotation {annotation['name']}", "promql", annotation["expr"])
            )
        for panel in dashboards.every_panel(board):
            kind = "logql" if panel["datasource"]["type"] == "loki" else "promql"
            for target in panel["targets"]:
                where = f"{board['uid']} / {panel['title']}"
                found.append((where, kind, with_variables(target["expr"])))
    return found


def rule_queries() -> list[tuple[str, str, str]]:
    found = []
    for path in (ROOT / "prometheus" / "rules").glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                kind = "alert" if "alert" in rule else "promql"
                found.append(
                    (f"rule {rule.get('alert') or rule.get('record')}", kind, rule["expr"])
                )
    return found


@contextlib.contextmanager
def exporter(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    process = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def prometheus(
    real_servers: tuple[Postgres, Redis],
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Prometheus]:
    postgres, redis_server = real_servers
    logs = tmp_path_factory.mktemp("promql")
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "OTEL_SDK_DISABLED": "true",
        "FAULTLINE_ADMIN_TOKEN": "t",
        # The pager is on (as in compose), so its response-time series exist for the Drills row.
        "ALERT_WEBHOOK_TOKEN": "webhook-token-for-tests",
        "INCIDENTS_PATH": str(logs / "incidents.jsonl"),
    }
    pg_exporter = shutil.which("prometheus-postgres-exporter")
    redis_exporter = shutil.which("prometheus-redis-exporter")
    assert pg_exporter and redis_exporter, "the exporters are installed by scripts/ensure-tools.sh"
    pg_port, redis_port, loadgen_port = free_port(), free_port(), free_port()
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(running_api(env, logs / "api.log"))
        control = stack.enter_context(running_api(env, logs / "control.log", "control"))
        pg = stack.enter_context(
            exporter(
                [pg_exporter, f"--web.listen-address=127.0.0.1:{pg_port}"],
                pg_port,
                {
                    "DATA_SOURCE_NAME": postgres.database_url(database_url.rsplit("/", 1)[1])
                    + "?sslmode=disable"
                },
            )
        )
        rd = stack.enter_context(
            exporter(
                [
                    redis_exporter,
                    f"--redis.addr=redis://{redis_server.host}:{redis_server.port}",
                    f"--web.listen-address=127.0.0.1:{redis_port}",
                ],
                redis_port,
            )
        )
        locust = headless_locust(
            api,
            SEEDED_PRODUCTS,
            {
                "LOAD_PROFILE": "steady",
                "LOAD_USERS": "10",
                "LOAD_SPAWN_RATE": "10",
                "LOAD_DURATION": "5m",
                "LOADGEN_METRICS_PORT": str(loadgen_port),
                "LOAD_WAIT_MIN": "0.05",
                "LOAD_WAIT_MAX": "0.2",
            },
            logs / "locust.log",
        )
        stack.callback(locust.wait, 30)
        stack.callback(locust.terminate)
        wait_for_port("127.0.0.1", loadgen_port)
        targets = {
            "api": [api.removeprefix("http://")],
            "control": [control.removeprefix("http://")],
            "loadgen": [f"127.0.0.1:{loadgen_port}"],
            "postgres": [pg],
            "redis": [rd],
        }
        config = project_config(targets)
        prom = stack.enter_context(running_prometheus(targets, config=config))
        # Rates over 1m need two scrapes at 5 s; recording rules need an evaluation after that.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # Every source has two scrapes in the window: the API (a recording rule over it),
            # the load generator and both exporters (a busy machine scrapes late).
            ready = all(
                prom.query(expr)
                for expr in (
                    "faultline:sli_slow:ratio_rate1m",
                    "histogram_quantile(0.99, sum by (le) "
                    "(rate(loadgen_request_duration_seconds_bucket[1m])))",
                    "rate(redis_commands_processed_total[1m])",
                    "rate(pg_stat_database_xact_commit[1m])",
                )
            )
            if ready and prom.targets_up():
                break
            time.sleep(2)
        yield prom


QUERIES = dashboard_queries() + rule_queries()


# A threshold at the end of an alert condition: `> 0`, `>= 0.9`, `> (14.4 * 0.01)`, `== 1`.
THRESHOLD = re.compile(r"\s*(>=|<=|==|>|<)\s*(\([\d.\s*]+\)|[\d.]+)")


def signal_of(alert_expr: str) -> str:
    """The alert's condition without its thresholds: the signal that must exist while healthy."""
    return THRESHOLD.sub("", alert_expr)


def full_stack_only(expr: str) -> bool:
    return any(prefix in expr for prefix in dashboards.FULL_STACK_ONLY_METRICS)


def test_the_committed_dashboards_are_what_the_generator_writes() -> None:
    for name, text in dashboards.render().items():
        assert (ROOT / "grafana" / "dashboards" / name).read_text() == text, (
            f"{name} is stale: run `python grafana/dashboards.py`"
        )


def test_every_target_of_the_native_config_is_up(prometheus: Prometheus) -> None:
    response = httpx.get(f"{prometheus.url}/api/v1/targets").json()["data"]["activeTargets"]
    assert {t["labels"]["job"]: t["health"] for t in response} == {
        "api": "up",
        "control": "up",
        "loadgen": "up",
        "postgres": "up",
        "redis": "up",
    }


@pytest.mark.parametrize(("where", "kind", "expr"), QUERIES, ids=[q[0] for q in QUERIES])
def test_query(prometheus: Prometheus, where: str, kind: str, expr: str) -> None:
    if kind == "logql":
        # No Loki here: the stream selector and pipeline must at least be well formed.
        assert re.fullmatch(
            r'\{(\s*\w+\s*(=|!=|=~|!~)\s*"[^"]*"\s*,?)+\}(\s*(\|=|!=|\|~|!~|\|)\s*.+)*', expr
        ), expr
        return
    response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
    assert response.status_code == 200, f"{where}: {response.text}"
    result: list[Any] = response.json()["data"]["result"]
    if kind == "alert":
        # Healthy load: the alert must not fire (empty), but the signal it watches must exist.
        expr = signal_of(expr)
        response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
        assert response.status_code == 200, f"{where} (signal): {response.text}"
        result = response.json()["data"]["result"]
    if full_stack_only(expr):
        return  # parsed and evaluated; its series exist only on the full stack (make verify)
    if "ALERTS" in expr and "vector(0)" not in expr:
        return  # alert annotations: no alert firing is the healthy state
    if re.search(r"max by \(fault(, replica)?\) \(fault_(active|scope)\) (> 0|== 1)\)?\s*$", expr):
        return  # fault markers and parameters: empty while no fault is on, by design
    assert result, f"{where}: no data for {expr}"
