"""Collector, Loki, Tempo and Grafana configs: none of them can run here, so each is parsed and
checked against the pitfalls that break stacks like this one (shared/reference/stack-facts.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.dashboards import every_panel

ROOT = Path(__file__).resolve().parents[2]


def load(path: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / path).read_text()))


# --- OpenTelemetry collector ---------------------------------------------------------------------

COLLECTOR = "otel-collector/config.yaml"


def test_collector_receivers_bind_all_interfaces() -> None:
    protocols = load(COLLECTOR)["receivers"]["otlp"]["protocols"]
    assert {p["endpoint"] for p in protocols.values()} == {"0.0.0.0:4317", "0.0.0.0:4318"}
    assert load(COLLECTOR)["extensions"]["health_check"]["endpoint"].startswith("0.0.0.0:")


def test_collector_uses_no_removed_components() -> None:
    exporters = load(COLLECTOR)["exporters"]
    kinds = {name.split("/")[0] for name in exporters}
    assert not kinds & {"logging", "loki"}, "removed: use debug, and Loki's native OTLP endpoint"
    assert exporters["otlp_http/loki"]["endpoint"].endswith("/otlp")


def test_collector_pipelines_reference_defined_components_memory_limiter_first() -> None:
    config = load(COLLECTOR)
    for name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline[kind]:
                assert component in config[kind], f"{name}: {component} is not defined"
        assert pipeline["processors"][0] == "memory_limiter", name
        assert "batch" in pipeline["processors"], name
    assert set(config["service"]["pipelines"]) == {"traces", "logs"}
    assert set(config["service"]["extensions"]) <= set(config["extensions"])


def test_collector_metrics_use_readers_not_address() -> None:
    metrics = load(COLLECTOR)["service"]["telemetry"]["metrics"]
    assert "address" not in metrics
    assert metrics["readers"][0]["pull"]["exporter"]["prometheus"]["port"] == 8888


def test_collector_sends_where_tempo_and_loki_listen() -> None:
    exporters = load(COLLECTOR)["exporters"]
    assert exporters["otlp_grpc/tempo"]["endpoint"] == "tempo:4317"
    tempo = load("tempo/config.yaml")["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]
    assert tempo["endpoint"].endswith(":4317")
    assert exporters["otlp_http/loki"]["endpoint"] == "http://loki:3100/otlp"
    assert load("loki/config.yaml")["server"]["http_listen_port"] == 3100


# --- Loki ---------------------------------------------------------------------------------------


def test_loki_schema_allows_structured_metadata() -> None:
    config = load("loki/config.yaml")
    schema = config["schema_config"]["configs"][-1]
    assert (schema["schema"], schema["store"]) == ("v13", "tsdb")
    assert config["limits_config"]["allow_structured_metadata"] is True


# --- Tempo --------------------------------------------------------------------------------------


def test_tempo_has_no_2x_blocks_and_its_generator_is_where_3x_wants_it() -> None:
    config = load("tempo/config.yaml")
    assert not {"ingester", "compactor"} & set(config), "Tempo 3 refuses 2.x blocks"
    assert config["stream_over_http_enabled"] is True
    processors = config["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert set(processors) == {"service-graphs", "span-metrics"}
    remote_write = config["metrics_generator"]["storage"]["remote_write"][0]["url"]
    assert remote_write == "http://prometheus:9090/api/v1/write"
    for protocol in config["distributor"]["receivers"]["otlp"]["protocols"].values():
        assert protocol["endpoint"].startswith("0.0.0.0:")


def test_prometheus_accepts_tempo_remote_write_and_stores_exemplars() -> None:
    command = load("compose.yaml")["services"]["prometheus"]["command"]
    assert "--web.enable-remote-write-receiver" in command
    assert "--enable-feature=exemplar-storage" in command


# --- Grafana ------------------------------------------------------------------------------------

DATASOURCES = "grafana/provisioning/datasources/datasources.yml"


def datasources() -> list[dict[str, Any]]:
    return list(load(DATASOURCES)["datasources"])


def test_datasources_have_fixed_unique_uids_and_one_default() -> None:
    sources = datasources()
    assert {d["uid"] for d in sources} == {"prometheus", "alertmanager", "loki", "tempo"}
    assert sum(bool(d.get("isDefault")) for d in sources) == 1


def test_datasources_are_cross_linked() -> None:
    by_uid = {d["uid"]: d["jsonData"] for d in datasources()}
    assert by_uid["prometheus"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == "tempo"
    assert by_uid["loki"]["derivedFields"][0]["datasourceUid"] == "tempo"
    assert by_uid["tempo"]["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert by_uid["tempo"]["tracesToLogsV2"]["customQuery"] is True  # OTLP structured metadata
    assert by_uid["tempo"]["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert by_uid["tempo"]["serviceMap"]["datasourceUid"] == "prometheus"


def test_every_grafana_dollar_is_escaped_for_provisioning() -> None:
    text = (ROOT / DATASOURCES).read_text()
    # `$${` reaches Grafana as `${`; a lone `${` would be expanded as an environment variable.
    assert not re.search(r"(?<!\$)\$\{", text)
    assert "$${__value.raw}" in text


DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_lint(path: Path) -> None:
    board = json.loads(path.read_text())
    assert "id" not in board, "no top-level id in provisioned dashboards"
    assert re.fullmatch(r"faultline-[a-z]+", board["uid"]) and path.stem == board["uid"]
    provisioned = {d["uid"] for d in datasources()}
    for panel in every_panel(board):
        assert panel["datasource"]["uid"] in provisioned, panel["title"]
        assert len(panel.get("description", "")) > 30, f"{panel['title']}: teach what it shows"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in provisioned
    names = [a["name"] for a in board["annotations"]["list"]]
    assert "Faults" in names, "every dashboard shows every fault as an annotation"


def test_dashboards_share_one_schema_version_unique_uids_and_the_home_exists() -> None:
    boards = [json.loads(p.read_text()) for p in DASHBOARDS]
    assert len({b["schemaVersion"] for b in boards}) == 1
    assert len({b["uid"] for b in boards}) == len(boards) == 6
    home = load("compose.yaml")["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]
    assert (ROOT / "grafana" / "dashboards" / Path(home).name).exists()


def test_dashboard_provider_points_where_compose_mounts_them() -> None:
    provider = load("grafana/provisioning/dashboards/faultline.yml")["providers"][0]
    assert provider["folder"] == "Faultline"
    mounts = load("compose.yaml")["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
