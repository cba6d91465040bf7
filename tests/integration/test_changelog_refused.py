"""A changelog record the broker refuses ends the worker at once, before the message that
made the change is committed: read again, it is redone (streams/gapless.py). Faust alone
only logs the refusal, and commits the message."""

from __future__ import annotations

import random
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from oms import processes
from oms.kafka_admin import GroupProgress
from streams.gapless import EXIT_CHANGELOG_REFUSED
from streams.topics import INVENTORY, changelog_name

from .helpers import publish
from .inventory_scenarios import inventory_events, locations

pytestmark = pytest.mark.integration


def test_a_refused_changelog_record_stops_the_worker_before_its_message_is_committed(settings):
    stock_changelog = changelog_name(settings.app_id, "stock")
    too_small = NewTopic(  # every record batch of the stock table is larger
        stock_changelog,
        num_partitions=settings.topic_partitions,
        replication_factor=1,
        config={"cleanup.policy": "compact", "max.message.bytes": "64"},
    )
    admin = AdminClient(settings.kafka_client_config())
    admin.create_topics([too_small])[stock_changelog].result()
    publish(settings, locations(random.Random(1)))  # the other topics are created here
    worker = processes.worker(settings).start()
    try:
        processes.wait_for(
            lambda: processes.worker_ready(worker), [worker], 120, "the worker to be ready"
        )
        publish(settings, inventory_events(random.Random(2), skus=1, count=1))
        exit_code = worker.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise
    log = worker.log_path.read_text()

    assert exit_code == EXIT_CHANGELOG_REFUSED, log[-3000:]
    assert "changelog record refused" in log
    # the receipt, the topic's only message, is read again by the next worker
    progress = GroupProgress(settings, settings.app_id)
    try:
        inventory = progress.partitions([INVENTORY.name(settings.topic_prefix)])
        assert all(offset < 1 for offset in progress.committed(inventory).values())
    finally:
        progress.close()
