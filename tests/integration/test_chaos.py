"""The chaos check, short: a simulated history through three workers on six partitions while
workers are SIGKILLed and replaced and the broker restarts; ClickHouse equals a one-worker
reference exactly and the ledger reconciles. `oms chaos` runs the full-size version."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rich.console import Console

from oms import processes
from oms.chaos import ChaosPlan, report, run_chaos
from tests.conftest import make_settings


@pytest.mark.timeout(1500)
def test_kills_and_a_broker_restart_change_nothing(kafka_bootstrap, tmp_path):
    # run_chaos starts brokers of its own (it restarts one); the session's gives it ports
    settings = make_settings(kafka_bootstrap, tmp_path, "chaos")
    history = tmp_path / "history.jsonl"
    # 1,910 events: stock for 300 SKUs at 15 locations, 36 orders (a split, cancellations),
    # 39 parcels with late scans
    simulate = ["simulate", "--seed", "5", "--orders-per-minute", "3", "--duration", "10m"]
    simulate += ["--out", str(history)]
    subprocess.run(
        [sys.executable, "-m", "oms.cli", *simulate],
        env=processes.settings_env(settings),
        check=True,
        capture_output=True,
        timeout=60,
    )
    console = Console(width=160)

    # every other victim restarted on its own disk, the others replaced on an empty one
    plan = ChaosPlan(broker_restart_after=20, empty_disk_every=2)
    result = run_chaos(settings, history, plan, console)

    console.print(report(result))
    assert len(result.log.kills) >= 2
    assert any(kill.empty_disk for kill in result.log.kills)
    assert len(result.log.broker_downtime) == 1
    assert result.differences == []
    assert result.reconciled, result.reconcile_output
