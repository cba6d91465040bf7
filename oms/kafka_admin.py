"""Topic creation and consumer-group progress, through confluent-kafka's admin and consumer."""

from __future__ import annotations

import logging
import time

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from oms.settings import Settings
from streams.topics import ALL_TOPICS, TABLES, changelog_name

log = logging.getLogger(__name__)


def create_topics(settings: Settings) -> list[str]:
    """Creates the pipeline's topics that do not exist yet; returns the names created."""
    admin = AdminClient(settings.kafka_client_config())
    existing = set(admin.list_topics(timeout=10).topics)
    names = {spec.name(settings.topic_prefix): {} for spec in ALL_TOPICS}
    compacted = {"cleanup.policy": "compact"}
    names |= {changelog_name(settings.app_id, table): compacted for table in TABLES}
    wanted = [
        NewTopic(
            name,
            num_partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            config=config,
        )
        for name, config in names.items()
        if name not in existing
    ]
    if not wanted:
        return []
    for _name, future in admin.create_topics(wanted).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != exc.args[0].TOPIC_ALREADY_EXISTS:
                raise
    return [t.topic for t in wanted]


_MOVING = {  # leaders and coordinators settling (new topics, restarts): ask again
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.FENCED_LEADER_EPOCH,
    KafkaError.UNKNOWN_LEADER_EPOCH,
}


def wait_for_cluster(settings: Settings, timeout: float) -> None:
    """Returns once the cluster answers a metadata request (raises KafkaException after
    `timeout` s): a Faust worker started while no broker answers exits at once ("Unable to
    bootstrap"), as one restarted during `oms chaos`'s broker restart did."""
    admin = AdminClient({**settings.kafka_client_config(), "log_level": 0})
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=5)
            return
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            log.warning("no Kafka broker answers yet; waiting for one")
            time.sleep(1)


def retrying(call, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            transient = error.retriable() or error.code() in _MOVING
            if not transient or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def end_offsets(consumer: Consumer, partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
    """Each partition's end (high watermark), in one request for all of them: a replay
    asks before every wait, and one round trip per partition added up to most of its time.
    Needs a read_uncommitted consumer: read_committed would answer the last stable offset."""
    latest = [TopicPartition(tp.topic, tp.partition, OFFSET_END) for tp in partitions]
    ends = {}
    for tp in consumer.offsets_for_times(latest, timeout=10):
        if tp.error:
            raise KafkaException(tp.error)
        ends[(tp.topic, tp.partition)] = tp.offset
    return ends


class GroupProgress:
    """How far a consumer group has committed, compared with the ends of its topics."""

    def __init__(self, settings: Settings, group_id: str) -> None:
        self._config = {
            **settings.kafka_client_config(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "isolation.level": "read_uncommitted",  # ends are high watermarks (end_offsets)
            "log_level": 0,  # a probe: its failures surface as exceptions, not log lines
        }
        self._consumer = Consumer(self._config)
        self._partitions: dict[tuple[str, ...], list[TopicPartition]] = {}

    def committed(self, partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
        result = self._ask(lambda consumer: consumer.committed(partitions, timeout=10))
        return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in result}

    def partitions(self, topics: list[str]) -> list[TopicPartition]:
        """Every partition of the topics (asked once: a run never changes partition counts)."""
        key = tuple(topics)
        if key not in self._partitions:
            metadata = self._ask(lambda consumer: consumer.list_topics(timeout=10)).topics
            self._partitions[key] = [
                TopicPartition(t, p) for t in topics for p in metadata[t].partitions
            ]
        return self._partitions[key]

    def lag(self, topics: list[str]) -> int:
        return sum(self.partition_lag(self.partitions(topics)).values())

    def partition_lag(self, partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
        committed = self.committed(partitions)
        ends = self._ask(lambda consumer: end_offsets(consumer, partitions))
        return {key: max(end - committed[key], 0) for key, end in ends.items()}

    def _ask(self, call):
        """A client that still fails after retries starts over with a new connection: one
        that lived through a broker restart can stay stuck on its old coordinator."""
        try:
            return retrying(lambda: call(self._consumer), timeout=10)
        except KafkaException as exc:
            log.warning("group progress probe reconnects after: %s", exc)
            self._consumer.close()
            self._consumer = Consumer(self._config)
            raise

    def close(self) -> None:
        self._consumer.close()
