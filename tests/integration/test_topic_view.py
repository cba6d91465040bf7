"""A topic view on the real broker: one offset query gives every partition's high
watermark, a read takes the view exactly to those ends, and a read the broker cannot
answer yet is tried again until it can."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.inventory.directory import TopicView

from .helpers import producer

pytestmark = pytest.mark.integration


def test_a_view_reads_every_partition_to_its_high_watermark(settings):
    topic = f"{settings.topic_prefix}view"
    admin = AdminClient(settings.kafka_client_config())
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result()
    kafka = producer(settings)
    seen: list[tuple[int, int]] = []
    view = TopicView(settings, topic, lambda m: seen.append((m.partition(), m.offset())))

    for counts in ([0, 3, 1, 7], [2, 0, 0, 5]):  # partition -> records added
        for partition, count in enumerate(counts):
            for _ in range(count):
                kafka.produce(topic, b"x", partition=partition)
        kafka.flush()
        view.read_to_end()
        consumer = view._consumer
        highs = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(4)
        }
        assert view._ends(consumer) == highs
        assert view._next == highs
        assert sorted(seen) == sorted((p, o) for p, high in highs.items() for o in range(high))


def test_a_read_the_broker_cannot_answer_yet_waits_until_it_can(settings):
    # a topic that does not exist yet answers as a broker that lost it would: no partitions
    topic = f"{settings.topic_prefix}view-later"
    seen: list[tuple[int, int]] = []
    view = TopicView(settings, topic, lambda m: seen.append((m.partition(), m.offset())))

    def create_and_fill() -> None:
        admin = AdminClient(settings.kafka_client_config())
        new = NewTopic(topic, num_partitions=2, replication_factor=1)
        admin.create_topics([new])[topic].result()
        kafka = producer(settings)
        for partition in (0, 1, 1):
            kafka.produce(topic, b"x", partition=partition)
        kafka.flush()

    later = threading.Timer(2.0, create_and_fill)
    later.start()
    view.read_to_end()  # returns only once it has read to an end the broker gave
    later.join()

    view.read_to_end()
    assert sorted(seen) == [(0, 0), (1, 0), (1, 1)]
