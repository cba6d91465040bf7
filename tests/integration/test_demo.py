"""`oms demo` as a user runs it, for a minute: simulated traffic in real time through the
worker and the sink, then a clean stop with exit code 0 and the KPIs in chDB.

The demo runs as a subprocess on the session's broker with the test's own topic prefix,
consumer groups, state directory (chDB) and free ports (as OMS_* variables, the way the demo
passes its settings to its own children), so it starts no broker of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from connectors.clickhouse.client import open_client
from connectors.clickhouse.dashboard_data import dashboard_data
from oms.processes import settings_env

from .helpers import query

pytestmark = pytest.mark.integration

# event time 300x faster than the wall clock: the minute covers 16:00 to 21:00 UTC of a
# Monday, the carriers' 13:00 pickups in New York, Chicago and Los Angeles included
DEMO = ["demo", "--duration", "60", "--speed", "300", "--orders-per-minute", "2"]


def test_a_minute_of_demo_stops_cleanly_and_leaves_the_kpis_in_clickhouse(settings, capsys):
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "oms.cli", *DEMO],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    seconds = time.monotonic() - began
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"dashboard: http://127.0.0.1:{settings.web_port}/dashboard" in output
    assert "seed 1" in output  # a fresh pipeline
    assert "orders by status (seed 1)" in output
    assert "stopping the worker and the sink" in output
    assert "local broker" not in output  # the session's broker was configured

    orders = query(settings, "SELECT count() FROM orders FINAL")[0][0]
    shipments = query(settings, "SELECT count() FROM shipments FINAL")[0][0]
    assert orders > 300  # 2 a minute over 5 hours of event time
    assert shipments > 0
    client = open_client(settings.resolved_clickhouse_url)
    try:
        kpis = dashboard_data(client)
    finally:
        client.close()
    funnel = dict(zip(kpis["funnel"]["statuses"], kpis["funnel"]["orders"], strict=True))
    assert sum(funnel.values()) == orders
    assert funnel.get("shipped", 0) + funnel.get("out_for_delivery", 0) > 0
    assert kpis["order_to_ship"]["channels"][0] == "all"
    assert kpis["stock"]["skus"] and kpis["stockouts"]["pairs"] > 0
    assert kpis["as_of"] >= "2026-11-02T20:00:00Z"
    # the summary printed is ClickHouse's funnel
    for status, n in funnel.items():
        assert status in output and f"{n:,}" in output
    with capsys.disabled():
        print(f"\noms demo --duration 60: {seconds:.0f} s from start to exit, {orders} orders")
