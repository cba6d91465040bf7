"""Shared by the operations tests: where the files are, the metric contract, the tools.

The tools (promtool, helm) come from `make ops-tools`, which `make test` runs first; a test
that needs a missing tool is skipped with the reason, never failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

DEV_EXTRAS = "is not installed: the dev extras have it (pip install -e '.[dev]', or make setup)"
ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "dashboards" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "dashboards" / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = ROOT / "dashboards" / "prometheus" / "prometheus.yml"
HELM_ALERTS = ROOT / "helm" / "oms" / "files" / "alerts.yml"
CHART = ROOT / "helm" / "oms"
DASHBOARD = ROOT / "dashboards" / "grafana" / "ops.json"
RUNBOOK = ROOT / "docs" / "runbook.md"
COMPOSE = ROOT / "docker-compose.yml"

# The metric contract the worker and the sink export (type of each metric family).
METRICS = {
    # worker, GET /metrics on OMS_WEB_PORT
    "oms_events_processed_total": "counter",
    "oms_events_dead_lettered_total": "counter",
    "oms_events_duplicate_total": "counter",
    "oms_event_delay_seconds": "histogram",
    "oms_consumer_lag": "gauge",
    "oms_worker_ready": "gauge",
    "oms_table_recovery_remaining": "gauge",
    "oms_stock_signals_total": "counter",
    "oms_stock_reservations_total": "counter",
    "oms_stock_out_skus": "gauge",
    "oms_backordered_lines": "gauge",
    "oms_order_updates_total": "counter",
    "oms_notifications_total": "counter",
    "oms_delivery_exceptions_opened_total": "counter",
    "oms_delivery_exceptions_open": "gauge",
    # sink, GET /metrics on OMS_SINK_METRICS_PORT
    "oms_sink_batches_total": "counter",
    "oms_sink_rows_total": "counter",
    "oms_sink_failures_total": "counter",
    "oms_sink_batch_seconds": "histogram",
    "oms_sink_last_success_timestamp_seconds": "gauge",
    "oms_sink_lag": "gauge",
    "oms_sink_paused": "gauge",
}
# Prometheus job names: the chart's ServiceMonitor and the compose Prometheus use these.
JOBS = {"oms-worker", "oms-sink"}


def series_names() -> set[str]:
    """Every series name a query may use: the contract, histogram series, and `up`."""
    names = {"up"}
    for name, kind in METRICS.items():
        names.add(name)
        if kind == "histogram":
            names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names


def find_tool(name: str) -> str | None:
    cached = Path.home() / ".cache" / "oms-stream" / "bin" / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which(name)


def require_tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name} is not installed: `make ops-tools` installs it")
    return path


def run(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def known_oms_variables() -> set[str]:
    """OMS_* variables oms.settings.Settings reads, plus OMS_SINK_METRICS_PORT (the sink's
    metrics port, part of the metric contract even before the setting lands)."""
    from pydantic import AliasChoices

    from oms.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    names = {"OMS_SINK_METRICS_PORT"}
    for field, info in Settings.model_fields.items():
        names.add(f"{prefix}{field}".upper())
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names.update(c.upper() for c in choices if isinstance(c, str) and c.startswith(prefix))
    return names
