"""Session-wide real infrastructure: one Apache Kafka broker for the whole test session.

KAFKA_BOOTSTRAP_SERVERS (or OMS_KAFKA_BOOTSTRAP_SERVERS) points the tests at an existing
cluster instead. Every test gets its own topic prefix, consumer groups, state directory and
chDB path, so tests share the broker and nothing else.
"""

from __future__ import annotations

import itertools
import os

import pytest

from oms.localkafka import LocalKafka, free_port, kafka_version
from oms.settings import Settings

FACTS: dict[str, str] = {}
_test_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    existing = os.environ.get("OMS_KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(
        "KAFKA_BOOTSTRAP_SERVERS"
    )
    if existing:
        FACTS["Kafka"] = f"existing cluster at {existing}"
        yield existing
        return
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"))
    bootstrap = broker.start()
    FACTS["Kafka"] = (
        f"Apache Kafka {kafka_version()} broker (KRaft), pid {broker.process.pid}, at {bootstrap}"
    )
    yield bootstrap
    broker.stop()


def make_settings(bootstrap: str, tmp_path, tag: str = "t", **changes) -> Settings:
    """A test's own topic prefix, consumer groups, state directory, chDB path and ports on a
    shared broker, with quick commits and group timeouts."""
    n = next(_test_numbers)
    fields = dict(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=f"{tag}{n}-{os.getpid()}.",
        topic_partitions=2,
        app_id=f"oms-{tag}-{n}-{os.getpid()}",
        sink_group_id=f"oms-{tag}-sink-{n}-{os.getpid()}",
        state_dir=tmp_path / "state",
        web_port=free_port(),
        sink_metrics_port=free_port(),
        commit_interval=0.05,
        session_timeout=6,
        sink_flush_interval=0.2,
        log_level="info",
    )
    return Settings(**{**fields, **changes})


@pytest.fixture
def settings(kafka_bootstrap, tmp_path) -> Settings:
    return make_settings(kafka_bootstrap, tmp_path)


def pytest_terminal_summary(terminalreporter):
    if FACTS:
        terminalreporter.section("real infrastructure used")
        for name, fact in FACTS.items():
            terminalreporter.write_line(f"{name}: {fact}")
