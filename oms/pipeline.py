"""A running pipeline as one object: its worker and sink processes and the waits on them.

Used by `oms run`, the tests and the benchmarks, so all three exercise the same processes.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaException, TopicPartition

from oms import processes
from oms.kafka_admin import GroupProgress, create_topics
from oms.localkafka import free_port
from oms.settings import Settings
from streams.topics import (
    CLOCK,
    SHIPMENT_STATUS,
    SHIPMENTS,
    SINK_SOURCES,
    STOCK_COMMANDS,
    STOCK_REPLIES,
    WORKER_SOURCES,
)


class LocalPipeline:
    def __init__(self, settings: Settings, timeout: float = 300.0, workers: int = 1) -> None:
        self.settings = settings
        self.timeout = timeout
        prefix = settings.topic_prefix
        self.input_topics = [spec.name(prefix) for spec in (*WORKER_SOURCES, CLOCK)]
        self.output_topics = [spec.name(prefix) for spec in SINK_SOURCES]
        # what the worker sends itself: ticks, stock commands and replies, parcels
        self.internal_topics = [
            spec.name(prefix)
            for spec in (CLOCK, STOCK_COMMANDS, STOCK_REPLIES, SHIPMENTS, SHIPMENT_STATUS)
        ]
        # several workers on one host each need a web port (and so a datadir) of their own
        self.workers = [processes.worker(settings)] + [
            processes.worker(settings.model_copy(update={"web_port": free_port()}), f"worker-{n}")
            for n in range(2, workers + 1)
        ]
        self.sink = processes.sink(settings)

    def __enter__(self) -> LocalPipeline:
        create_topics(self.settings)
        self._worker_progress = GroupProgress(self.settings, self.settings.app_id)
        self._sink_progress = GroupProgress(self.settings, self.settings.sink_group_id)
        for child in self.children:
            child.start()
        return self

    def __exit__(self, *exc_info) -> None:
        for child in self.children:
            child.stop()
        self._worker_progress.close()
        self._sink_progress.close()

    @property
    def worker(self) -> processes.Child:
        return self.workers[0]

    @worker.setter
    def worker(self, child: processes.Child) -> None:
        self.workers[0] = child

    @property
    def children(self) -> list[processes.Child]:
        return [*self.workers, self.sink]

    def wait_processed(self, last_offsets: dict[tuple[str, int], int]) -> None:
        """Returns once the worker has committed past each (topic, partition) -> offset and
        everything it sent itself because of them (so a replay decides in the order of its
        file: each timer, reservation and re-plan before the next input)."""
        partitions = [TopicPartition(t, p) for t, p in last_offsets]

        def processed() -> bool:
            committed = self._worker_progress.committed(partitions)
            # each step's outputs are in Kafka before its input is committed, so once the
            # inputs are committed, no internal lag means nothing is left in flight
            return all(
                committed[tp] > offset for tp, offset in last_offsets.items()
            ) and not self._worker_progress.lag(self.internal_topics)

        processes.wait_for(
            _unless_broker_away(processed), lambda: self.children, self.timeout, "the worker"
        )

    def drain(self) -> None:
        """Returns once every input is processed and every output is in ClickHouse."""

        def drained() -> bool:
            # the worker again last: it may have produced more while the sink caught up
            return (
                self._worker_progress.lag(self.input_topics) == 0
                and self._sink_progress.lag(self.output_topics) == 0
                and self._worker_progress.lag(self.input_topics) == 0
            )

        processes.wait_for(
            _unless_broker_away(drained),
            lambda: self.children,
            self.timeout,
            "the pipeline to drain",
        )


def _unless_broker_away(condition: Callable[[], bool]) -> Callable[[], bool]:
    """A broker restarting or a leader moving is "not yet", not a failure: the wait's own
    timeout still bounds it."""

    def checked() -> bool:
        try:
            return condition()
        except KafkaException:
            return False

    return checked
