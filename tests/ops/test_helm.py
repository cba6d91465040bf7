"""The Helm chart: lint, render with the values that change its shape, validate every
manifest offline against the Kubernetes schemas of kubernetes-validate, and check the values
that matter (state on a volume per worker, probes, non-root, read-only root, the alerts)."""

from __future__ import annotations

import functools
import re

import pytest

from oms.settings import Settings

from .support import (
    ALERTS,
    CHART,
    DEV_EXTRAS,
    JOBS,
    find_tool,
    known_oms_variables,
    require_tool,
    run,
)

yaml = pytest.importorskip("yaml", reason=f"PyYAML {DEV_EXTRAS}")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason=f"kubernetes-validate {DEV_EXTRAS}"
)

# A Kubernetes version kubernetes-validate ships schemas for, within the chart's kubeVersion.
# (helm built with `go install` defaults to v1.20, so every command names the version.)
KUBE_VERSION = "1.33.0"
KUBE = ("--kube-version", KUBE_VERSION)
CRD_GROUPS = ("monitoring.coreos.com/", "keda.sh/")

TLS = ["kafka.tls.enabled=true", "kafka.tls.existingSecret=kafka-client-tls"]
SCENARIOS = {
    "default": [],
    "keda": ["keda.enabled=true"],
    "tls": TLS,
    "everything": [
        *TLS,
        "keda.enabled=true",
        "kafka.sasl.enabled=true",
        "kafka.sasl.existingSecret=kafka-sasl",
        "clickhouse.existingSecret=clickhouse-credentials",
        "clickhouse.url=https://clickhouse.example.com:8443/oms",
        "schemaRegistry.url=http://schema-registry:8081",
        "image.repository=registry.example.com/oms-stream",
        "image.tag=1.2.3",
        "metrics.prometheusRule.runbookBaseUrl=https://git.example.com/oms-stream/blob/main/",
    ],
}


def helm() -> str:
    return require_tool("helm")


def set_args(values: list[str]) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


@functools.cache
def _render(scenario: str) -> tuple[int, str, str]:
    path = find_tool("helm")
    assert path is not None
    values = set_args(SCENARIOS[scenario])
    result = run([path, "template", "oms", str(CHART), "--namespace", "oms", *KUBE, *values])
    return result.returncode, result.stdout, result.stderr


def render(scenario: str) -> list[dict]:
    helm()
    returncode, stdout, stderr = _render(scenario)
    assert returncode == 0, stderr
    return [doc for doc in yaml.safe_load_all(stdout) if doc]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def pod_specs(docs: list[dict]) -> dict[str, dict]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in ("StatefulSet", "Deployment", "Job")
    }


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def settings_env(docs: list[dict]) -> dict[str, str]:
    return one(docs, "ConfigMap", "oms-settings")["data"]


@pytest.mark.parametrize("scenario", ["default", "everything"])
def test_helm_lint(scenario):
    result = run([helm(), "lint", str(CHART), "--strict", *KUBE, *set_args(SCENARIOS[scenario])])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_manifest_is_valid(scenario):
    docs = render(scenario)
    kinds = {d["kind"] for d in docs}
    assert {"StatefulSet", "Deployment", "Service", "ConfigMap", "Job"} <= kinds
    assert {"PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"} <= kinds
    for doc in docs:
        assert doc["metadata"]["name"], doc
        if doc["apiVersion"].startswith(CRD_GROUPS):
            # custom resources: no schema here; they parsed and have a spec
            assert isinstance(doc["spec"], dict)
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {error.message}")


def test_workers_are_a_statefulset_with_state_on_a_volume_per_replica():
    docs = render("default")
    sts = one(docs, "StatefulSet", "oms-worker")
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    headless = one(docs, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    [worker] = sts["spec"]["template"]["spec"]["containers"]
    assert worker["args"] == ["worker"]
    mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}
    assert env_of(worker)["OMS_STATE_DIR"]["value"] == mounts[claim["metadata"]["name"]]
    # other workers reach this one at its pod IP (Faust's canonical URL), not 127.0.0.1
    assert env_of(worker)["OMS_WEB_HOST"]["value"] == "$(POD_IP)"
    names = list(env_of(worker))
    assert names.index("POD_IP") < names.index("OMS_WEB_HOST")


def test_worker_probes_use_the_health_pages():
    sts = one(render("default"), "StatefulSet", "oms-worker")
    [worker] = sts["spec"]["template"]["spec"]["containers"]
    port = worker["ports"][0]
    assert port["containerPort"] == int(settings_env(render("default"))["OMS_WEB_PORT"])
    assert worker["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": port["name"]}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": port["name"]}
    assert worker["startupProbe"]["httpGet"]["path"] == "/health/live"


def test_sink_is_one_replica_writing_to_clickhouse_over_http():
    docs = render("default")
    deployment = one(docs, "Deployment", "oms-sink")
    assert deployment["spec"]["replicas"] == 1
    [sink] = deployment["spec"]["template"]["spec"]["containers"]
    assert sink["args"] == ["sink"]
    env = env_of(sink)
    assert env["OMS_CLICKHOUSE_URL"]["value"].startswith("http://")
    assert env["OMS_WEB_HOST"]["value"] == "0.0.0.0"
    port = sink["ports"][0]
    assert port["containerPort"] == int(settings_env(docs)["OMS_SINK_METRICS_PORT"])
    assert sink["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert sink["readinessProbe"]["httpGet"]["path"] == "/health/ready"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_container_is_non_root_with_a_read_only_root(scenario):
    for workload, spec in pod_specs(render(scenario)).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, workload
        assert spec["securityContext"]["runAsUser"] != 0, workload
        # Services named oms-* would otherwise inject OMS_*_PORT variables into the settings
        assert spec["enableServiceLinks"] is False, workload
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{workload}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["runAsNonRoot"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]], where
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, where
            assert set(resources["limits"]) == {"cpu", "memory"}, where


def test_image_comes_from_values():
    for scenario, image in (("default", "oms-stream:0.1.0"), ("everything", None)):
        expected = image or "registry.example.com/oms-stream:1.2.3"
        for workload, spec in pod_specs(render(scenario)).items():
            for container in spec.get("initContainers", []) + spec["containers"]:
                assert container["image"] == expected, workload


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_settings_are_oms_settings_that_parse(scenario, monkeypatch):
    docs = render(scenario)
    data = settings_env(docs)
    assert set(data) - known_oms_variables() == set()
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.web_port == 6066
    # the setup Job has the same settings inline (a hook runs before the ConfigMap exists)
    job = one(docs, "Job", "oms-setup")["spec"]["template"]["spec"]
    for container in job["initContainers"] + job["containers"]:
        inline = {k: v["value"] for k, v in env_of(container).items() if k in data}
        assert inline == data, container["name"]


def test_config_checksum_restarts_pods_when_settings_change():
    sts = one(render("default"), "StatefulSet", "oms-worker")
    other = one(render("tls"), "StatefulSet", "oms-worker")
    key = "checksum/config"
    assert sts["spec"]["template"]["metadata"]["annotations"][key]
    assert (
        sts["spec"]["template"]["metadata"]["annotations"][key]
        != other["spec"]["template"]["metadata"]["annotations"][key]
    )


def test_prometheus_rule_is_alerts_yml():
    rule = one(render("default"), "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_prometheus_rule_runbook_links_can_be_absolute():
    rule = one(render("everything"), "PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    urls = [r["annotations"]["runbook_url"] for r in alerts]
    assert urls and all(
        re.fullmatch(r"https://git\.example\.com/oms-stream/blob/main/docs/runbook\.md#oms\w+", u)
        for u in urls
    )


def test_service_monitor_scrapes_both_jobs_under_the_alerts_job_names():
    docs = render("default")
    monitor = one(docs, "ServiceMonitor")
    label = monitor["spec"]["jobLabel"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [
        d
        for d in docs
        if d["kind"] == "Service"
        and selector.items() <= d["metadata"]["labels"].items()
        and label in d["metadata"]["labels"]
    ]
    assert {s["metadata"]["labels"][label] for s in scraped} == JOBS
    endpoint_ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    for service in scraped:
        # every scraped Service has a port an endpoint names, and sees not-ready pods too
        assert {p["name"] for p in service["spec"]["ports"]} & endpoint_ports
        assert service["spec"].get("publishNotReadyAddresses") is True
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])


def test_pod_disruption_budget_selects_the_workers():
    docs = render("default")
    pdb = one(docs, "PodDisruptionBudget")
    sts = one(docs, "StatefulSet", "oms-worker")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_keda_scales_the_statefulset_on_consumer_lag():
    docs = render("keda")
    assert not [d for d in render("default") if d["kind"] == "ScaledObject"]
    scaled = one(docs, "ScaledObject")
    sts = one(docs, "StatefulSet", "oms-worker")
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": sts["metadata"]["name"],
    }
    assert "replicas" not in sts["spec"]  # KEDA owns it; an upgrade must not reset it
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert "oms_consumer_lag" in trigger["metadata"]["query"]
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


def test_kafka_tls_mounts_the_secret_and_sets_the_ssl_files():
    docs = render("tls")
    data = settings_env(docs)
    assert data["OMS_KAFKA_SECURITY_PROTOCOL"] == "SSL"
    files = [data[f"OMS_KAFKA_SSL_{kind}FILE"] for kind in ("CA", "CERT", "KEY")]
    assert files == [f"/etc/oms/kafka-tls/{key}" for key in ("ca.crt", "tls.crt", "tls.key")]
    for workload, spec in pod_specs(docs).items():
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec.get("initContainers", []) + spec["containers"]:
            [mount] = [m for m in container["volumeMounts"] if m["name"] == "kafka-tls"]
            assert mount["mountPath"] == "/etc/oms/kafka-tls" and mount["readOnly"], workload
        assert volumes["kafka-tls"]["secret"]["secretName"] == "kafka-client-tls"
    assert "OMS_KAFKA_SSL_CAFILE" not in settings_env(render("default"))


def test_credentials_come_from_existing_secrets():
    docs = render("everything")
    assert settings_env(docs)["OMS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert not [d for d in docs if d["kind"] == "Secret"]
    kafka = {"OMS_KAFKA_SASL_USERNAME": "kafka-sasl", "OMS_KAFKA_SASL_PASSWORD": "kafka-sasl"}
    clickhouse = {
        "CLICKHOUSE_USERNAME": "clickhouse-credentials",
        "CLICKHOUSE_PASSWORD": "clickhouse-credentials",
    }
    for workload, spec in pod_specs(docs).items():
        for container in spec.get("initContainers", []) + spec["containers"]:
            env = env_of(container)
            refs = {
                name: e["valueFrom"]["secretKeyRef"]["name"]
                for name, e in env.items()
                if "secretKeyRef" in e.get("valueFrom", {})
            }
            for name in refs:
                assert "value" not in env[name], f"{workload}: {name}"
            if workload == "StatefulSet/oms-worker":
                # the workers never talk to ClickHouse: they get no credentials for it
                assert refs == kafka and "OMS_CLICKHOUSE_URL" not in env
                continue
            assert refs == {**kafka, **clickhouse}, workload
            # Kubernetes expands $(VAR) only from variables defined before
            url = env["OMS_CLICKHOUSE_URL"]["value"]
            assert url == (
                "https://$(CLICKHOUSE_USERNAME):$(CLICKHOUSE_PASSWORD)"
                "@clickhouse.example.com:8443/oms"
            )
            names = list(env)
            assert names.index("CLICKHOUSE_PASSWORD") < names.index("OMS_CLICKHOUSE_URL")


def test_setup_job_creates_topics_then_migrates_before_install_and_upgrade():
    job = one(render("default"), "Job", "oms-setup")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    spec = job["spec"]["template"]["spec"]
    assert [c["args"] for c in spec["initContainers"]] == [["topics", "create"]]
    assert [c["args"] for c in spec["containers"]] == [["migrate"]]
    assert spec["restartPolicy"] == "Never"
    # the chart's ServiceAccount does not exist yet when a pre-install hook runs
    assert "serviceAccountName" not in spec


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["kafka.tls.enabled=true"], "kafka.tls.existingSecret is required"),
        (["kafka.sasl.enabled=true"], "kafka.sasl.existingSecret is required"),
        (["clickhouse.url=http://u:p@clickhouse:8123/oms"], "must not hold credentials"),
        (["clickhouse.url=chdb:///var/lib/oms"], "clickhouse.url must be http(s)"),
    ],
)
def test_wrong_values_fail_with_a_reason(values, message):
    result = run([helm(), "template", "oms", str(CHART), *KUBE, *set_args(values)])
    assert result.returncode != 0
    assert message in result.stderr


def test_every_value_is_documented():
    """values.yaml documents each key on the line above it."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^\s*[\w.-]+:", line):
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#"), f"values.yaml:{number + 1}: {line.strip()}"
