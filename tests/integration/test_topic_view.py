"""A topic view on the real broker: one offset query gives every partition's high
watermark, and a read takes the view exactly to those ends."""

from __future__ import annotations

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
