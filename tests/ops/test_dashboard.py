"""The Grafana ops dashboard: a Prometheus datasource chosen through ${datasource} (never a
hard-coded uid), queries on the metric contract that Prometheus can parse, and the panels
on-call needs."""

from __future__ import annotations

import json
import re

import pytest

from .support import DASHBOARD, DEV_EXTRAS, ROOT, require_tool, run, series_names

yaml = pytest.importorskip("yaml", reason=f"PyYAML {DEV_EXTRAS}")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> list[str]:
    return [target["expr"] for p in panels() for target in p["targets"]]


def datasource_refs(node) -> list:
    """Every `datasource` value anywhere in the dashboard."""
    if isinstance(node, dict):
        found = [node["datasource"]] if "datasource" in node else []
        return found + [ref for value in node.values() for ref in datasource_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in datasource_refs(item)]
    return []


def test_datasource_is_a_template_variable():
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    refs = datasource_refs(dashboard()["panels"]) + datasource_refs(variables["namespace"])
    assert refs, "no datasource references"
    for ref in refs:
        assert ref == {"type": "prometheus", "uid": "${datasource}"}


def test_no_hard_coded_datasource_uid_anywhere():
    text = DASHBOARD.read_text()
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', text)) - {dashboard()["uid"]}
    assert uids == {"${datasource}"}


def test_panels_have_unique_ids_and_queries():
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["targets"], panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"])


def test_queries_use_contract_metrics():
    used = {name for expr in queries() for name in re.findall(r"\b(oms_[a-z0-9_]+)\b", expr)}
    assert used - series_names() == set()


@pytest.mark.parametrize(
    "needed",
    [
        "oms_events_processed_total",
        "oms_events_dead_lettered_total",
        "oms_consumer_lag",
        "oms_event_delay_seconds_bucket",
        "oms_sink_rows_total",
        "oms_sink_failures_total",
        "oms_sink_last_success_timestamp_seconds",
        "oms_stock_signals_total",
        "oms_delivery_exceptions_open",
    ],
)
def test_dashboard_shows(needed):
    assert any(needed in expr for expr in queries())


def test_delay_percentiles_are_shown():
    quantiles = {
        m
        for expr in queries()
        if "oms_event_delay_seconds_bucket" in expr
        for m in re.findall(r"histogram_quantile\((0\.\d+)", expr)
    }
    assert {"0.5", "0.9", "0.99"} <= quantiles


def test_queries_parse(tmp_path):
    """promtool parses each query (Grafana's variables replaced) as a recording rule."""
    promtool = require_tool("promtool")
    rules = [
        {
            "record": f"oms:dashboard_query:{i}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$namespace", ".*"),
        }
        for i, expr in enumerate(queries())
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_finds_the_dashboard():
    provisioning = ROOT / "dashboards" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    providers = yaml.safe_load((provisioning / "dashboards" / "oms.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/etc/grafana/oms"
