"""Publishing and reading back for the integration tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import Producer

from connectors.clickhouse.client import open_client
from connectors.sources.replay import Replayer, publish_events, read_lines
from oms import processes
from oms.kafka_admin import create_topics
from oms.runner import pacer_for
from oms.settings import Settings
from schemas.serde import AvroSerde
from tests.conftest import FACTS

SAMPLES = Path(__file__).parents[2] / "samples"
FIXTURES = Path(__file__).parents[1] / "fixtures"


def producer(settings: Settings) -> Producer:
    return Producer(settings.producer_config())


def replay_file(settings: Settings, path: Path, wait_processed=None):
    pacer = wait_processed and pacer_for(settings)
    replayer = Replayer(
        producer(settings), AvroSerde(), settings.topic_prefix, wait_processed, pacer
    )
    return replayer.replay(path)


def oms_run(settings: Settings, events: Path) -> None:
    """`oms run --events FILE` as a user runs it, with the test's settings (its broker,
    topics, state directory and ports) in the environment."""
    command = [sys.executable, "-m", "oms.cli", "run", "--events", str(events)]
    env = processes.settings_env(settings)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def publish(settings: Settings, events: Iterable[dict]):
    create_topics(settings)
    return publish_events(producer(settings), settings.topic_prefix, events)


def query(settings: Settings, sql: str) -> list[tuple]:
    """Runs one query on the test's chDB path (only while no sink holds it)."""
    client = open_client(settings.resolved_clickhouse_url)
    try:
        FACTS["ClickHouse"] = f"{client.server_version} (chDB, embedded engine)"
        return client.query(sql).result_rows
    finally:
        client.close()


def scalar(settings: Settings, sql: str):
    return query(settings, sql)[0][0]


def count_lines(path: Path) -> int:
    return sum(1 for _ in read_lines(path))
