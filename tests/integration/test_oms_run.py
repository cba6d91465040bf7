"""The `oms run` command as a user runs it: its own broker and chDB under the state directory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from oms.settings import Settings

from .helpers import SAMPLES, query

pytestmark = pytest.mark.integration

# the sample's order events, 13 holds that ended, and the parcels' carrier progress
ORDER_EVENTS_IN_SAMPLE = 47 + 13 + 9
# Without Kafka positions: a paced replay keeps events that cannot interact in flight
# together (connectors/sources/pacing.py), so their order in oms.accepted-events, and so
# their offsets there, may differ from run to run; what was decided may not.
CONTENTS = {
    "raw_events": "event_id, type, topic, key, occurred_at, payload",
    "order_events": "event_id, order_id, type, status, occurred_at, channel, location_id",
    "carrier_scans": "event_id, tracking_number, status, status_detail, occurred_at",
    "locations": "location_id, name, kind, latitude, longitude, ships_orders, version",
}


def oms_run(state_dir) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "OMS_KAFKA_BOOTSTRAP_SERVERS")
        and not k.startswith("OMS_")
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "oms.cli",
            "run",
            "--events",
            str(SAMPLES / "day.jsonl"),
            "--state-dir",
            str(state_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def contents(state_dir) -> dict[str, list[tuple]]:
    settings = Settings(state_dir=state_dir)
    return {
        table: query(settings, f"SELECT {columns} FROM {table} FINAL ORDER BY {columns}")
        for table, columns in CONTENTS.items()
    }


def test_oms_run_twice_on_one_state_dir_and_once_on_a_fresh_one(tmp_path):
    first = oms_run(tmp_path / "a")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "replay summary" in first.stdout
    settings = Settings(state_dir=tmp_path / "a")
    assert query(settings, "SELECT count() FROM order_events")[0][0] == ORDER_EVENTS_IN_SAMPLE
    after_first = contents(tmp_path / "a")

    again = oms_run(tmp_path / "a")
    assert again.returncode == 0, again.stdout + again.stderr
    assert query(settings, "SELECT count() FROM order_events")[0][0] == ORDER_EVENTS_IN_SAMPLE
    assert contents(tmp_path / "a") == after_first

    fresh = oms_run(tmp_path / "b")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert contents(tmp_path / "b") == after_first
