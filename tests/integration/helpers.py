"""Publishing and reading back for the integration tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import Producer

from connectors.clickhouse.client import open_client
from connectors.sources.replay import Replayer, publish_events, read_lines
from oms.kafka_admin import create_topics
from oms.settings import Settings
from schemas.serde import AvroSerde
from tests.conftest import FACTS

SAMPLES = Path(__file__).parents[2] / "samples"
FIXTURES = Path(__file__).parents[1] / "fixtures"


def producer(settings: Settings) -> Producer:
    return Producer(settings.producer_config())


def replay_file(settings: Settings, path: Path, wait_processed=None):
    replayer = Replayer(
        producer(settings), AvroSerde(), settings.topic_prefix, wait_processed, settings.clock_tick
    )
    return replayer.replay(path)


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
