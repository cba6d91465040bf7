"""docker-compose.yml (no Docker engine needed): the services of the local stack, settings
oms.settings knows and can parse, mounted files that exist, Prometheus scraping the ports
the services listen on; and the Dockerfile and constraints.txt it builds from."""

from __future__ import annotations

import re
import tomllib

import pytest

from oms.settings import Settings

from .support import (
    ALERTS,
    COMPOSE,
    DASHBOARD,
    DEV_EXTRAS,
    JOBS,
    PROMETHEUS_CONFIG,
    ROOT,
    known_oms_variables,
    require_tool,
    run,
)

yaml = pytest.importorskip("yaml", reason=f"PyYAML {DEV_EXTRAS}")

OMS_SERVICES = {"worker": ["worker"], "sink": ["sink"], "simulator": ["simulate"]}
REQUIRED = {"kafka", "clickhouse", "prometheus", "grafana", *OMS_SERVICES}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def oms_services() -> dict[str, dict]:
    return {name: s for name, s in services().items() if s.get("image") == "oms-stream:local"}


def test_the_stack_has_its_services():
    assert set(services()) >= REQUIRED
    for name, command in OMS_SERVICES.items():
        assert services()[name]["command"] == command
    setup = {name: s["command"] for name, s in oms_services().items()}
    assert setup["topics"] == ["topics", "create"] and setup["migrate"] == ["migrate"]


def test_oms_services_build_the_project_image():
    for name, service in oms_services().items():
        assert service["build"] == ".", name
        assert service["read_only"] is True and "/tmp" in service["tmpfs"], name
    assert (ROOT / "Dockerfile").is_file()


def test_kafka_is_apache_kafka_in_kraft_mode():
    kafka = services()["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert not any("ZOOKEEPER" in key for key in env)
    assert len(env["CLUSTER_ID"]) == 22  # a base64-encoded UUID


@pytest.mark.parametrize("name", sorted(oms_services()))
def test_oms_variables_are_settings_that_parse(name, monkeypatch):
    env = environment(services()[name])
    oms = {key: value for key, value in env.items() if key.startswith("OMS_")}
    assert set(env) == set(oms), "only OMS_* variables configure the pipeline"
    assert set(oms) - known_oms_variables() == set()
    for key, value in oms.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "kafka:9092"


def test_sink_and_migrations_use_the_clickhouse_server_over_http():
    clickhouse = environment(services()["clickhouse"])
    for name in ("sink", "migrate"):
        url = environment(services()[name])["OMS_CLICKHOUSE_URL"]
        user, password = clickhouse["CLICKHOUSE_USER"], clickhouse["CLICKHOUSE_PASSWORD"]
        database = clickhouse["CLICKHOUSE_DB"]
        assert url == f"http://{user}:{password}@clickhouse:8123/{database}", name


def test_mounted_files_exist():
    mounts = [(name, m) for name, s in services().items() for m in bind_mounts(s)]
    assert mounts
    for name, (source, _target) in mounts:
        assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_prometheus_loads_the_one_rule_file():
    [(source, target)] = bind_mounts(services()["prometheus"])
    assert (ROOT / source).resolve() == ALERTS.parent
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == [ALERTS.name]
    command = services()["prometheus"]["command"]
    assert f"--config.file={target}/{PROMETHEUS_CONFIG.name}" in command


def test_prometheus_scrapes_the_ports_the_services_listen_on():
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
        for job in config["scrape_configs"]
    }
    assert set(targets) >= JOBS
    worker = environment(services()["worker"])
    sink = environment(services()["sink"])
    assert targets["oms-worker"] == [f"worker:{worker['OMS_WEB_PORT']}"]
    assert targets["oms-sink"] == [f"sink:{sink['OMS_SINK_METRICS_PORT']}"]
    assert sink["OMS_WEB_HOST"] == "0.0.0.0"  # the sink binds its metrics server there


def test_promtool_checks_the_prometheus_config():
    promtool = require_tool("promtool")
    result = run([promtool, "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisions_from_dashboards_grafana():
    grafana = services()["grafana"]
    mounts = {target: (ROOT / source).resolve() for source, target in bind_mounts(grafana)}
    provisioning = ROOT / "dashboards" / "grafana" / "provisioning"
    for kind in ("datasources", "dashboards"):
        assert mounts[f"/etc/grafana/provisioning/{kind}"] == provisioning / kind
    providers = yaml.safe_load((provisioning / "dashboards" / "oms.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    assert mounts[path] == DASHBOARD.parent
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{path}/{DASHBOARD.name}"


def test_dockerfile_builds_a_non_root_image_with_pinned_dependencies():
    text = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == ["python:3.11-slim"] * 2
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^ENTRYPOINT \[\"oms\"\]$", text, flags=re.MULTILINE)
    assert "--constraint constraints.txt" in text


def test_constraints_pin_every_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    required = project["dependencies"] + project["optional-dependencies"]["dev"]
    for requirement in required:
        name = re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~ ;]", requirement)[0]).lower()
        assert name in pins, f"{name} is not in constraints.txt"
        exact = re.search(r"==([\w.]+)", requirement)
        if exact:
            assert pins[name] == exact.group(1), f"{name}: pyproject {exact.group(1)}"
