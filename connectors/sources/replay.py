"""Publishes a file of canonical JSON events (one per line) to their topics, in file order.

File order is arrival order. Kafka keeps order within a partition; across partitions a paced
replay waits where connectors.sources.pacing says (before an event that interacts with one
in flight on another partition, and at every tick of the event-time clock) until the worker
has processed everything published so far, so each event is decided after the ones before
it that it could interact with, as it would be live, and every run decides alike. Each
record's Kafka timestamp is its occurred_at, so a replay stamps the same times every run.
Lines that cannot become an event (not JSON, unknown type, schema violation) go straight to
the dead-letter topic, keyed by file and line.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Producer

from connectors.sources.pacing import Pacer
from schemas.canonical import to_record
from schemas.catalog import UnknownEventType
from schemas.serde import AvroSerde, SchemaViolation
from streams.ingest.intake import Rejected, dead_letter_record
from streams.topics import CLOCK, DEAD_LETTERS, INPUT_TOPIC_BY_EVENT_TYPE

_PARTITIONER = DefaultPartitioner()


@dataclass
class ReplaySummary:
    read: Counter = field(default_factory=Counter)
    published: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class Line:
    number: int
    text: str


def read_lines(path: Path) -> Iterator[Line]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield Line(number, text)


class Replayer:
    def __init__(
        self,
        producer: Producer,
        serde: AvroSerde,
        topic_prefix: str,
        wait_processed: Callable[[dict[tuple[str, int], int]], None] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        """wait_processed(last offsets by (topic, partition)) returns once they are processed,
        and the pacer says when the replay must call it (connectors.sources.pacing); without
        them the replay publishes as fast as the broker takes it (bulk loads, benchmarks)."""
        if (wait_processed is None) != (pacer is None):
            raise ValueError("a paced replay needs both wait_processed and a pacer")
        self.producer = producer
        self.serde = serde
        self.prefix = topic_prefix
        self.wait_processed = wait_processed
        self.pacer = pacer
        self._unconfirmed: dict[tuple[str, int], int] = {}
        self._failures: list[str] = []
        self._partitions: dict[str, list[int]] = {}

    def replay(self, path: Path, on_line: Callable[[], None] = lambda: None) -> ReplaySummary:
        return self.publish(path.name, read_lines(path), on_line)

    def publish(
        self, source: str, lines: Iterable[Line], on_line: Callable[[], None] = lambda: None
    ) -> ReplaySummary:
        """source names the lines' origin in dead letters (a file name)."""
        summary = ReplaySummary()
        for line in lines:
            self._publish_line(source, line, summary)
            on_line()
        self.producer.flush()
        self._settle()
        return summary

    def _publish_line(self, source: str, line: Line, summary: ReplaySummary) -> None:
        event_type = "unparsed"
        try:
            event = json.loads(line.text)
            event_type = str(event.get("type", "untyped")) if isinstance(event, dict) else "?"
            summary.read[event_type] += 1
            event_type, record = to_record(event)
            topic_spec = INPUT_TOPIC_BY_EVENT_TYPE.get(event_type)
            if topic_spec is None:
                raise SchemaViolation(f"{event_type} is not an input event")
            value = self.serde.encode(event_type, record)
        except (ValueError, UnknownEventType) as exc:
            if event_type == "unparsed":
                summary.read[event_type] += 1
            summary.rejected[event_type] += 1
            self._dead_letter(source, line, event_type, _reason(exc))
            return
        topic = topic_spec.name(self.prefix)
        key = str(record[topic_spec.key]).encode()
        partition = self._partition_of(topic, key)
        if self.pacer:
            self._pace(event_type, record, (topic, partition))
        self.producer.produce(
            topic,
            value,
            key,
            partition=partition,
            # event time, but never ahead of the wall clock: brokers refuse timestamps more
            # than an hour in the future (log.message.timestamp.after.max.ms)
            timestamp=min(int(record["occurred_at"].timestamp() * 1000), _now_ms()),
            on_delivery=self._delivered,
        )
        self.producer.poll(0)
        self._check()
        summary.published[event_type] += 1

    def _pace(self, event_type: str, record: dict, position: tuple[str, int]) -> None:
        """Publishes the clock's tick when the event starts one, and waits where the pacer
        says, so the event is processed after everything it could interact with."""
        clock = CLOCK.name(self.prefix)
        groups = self.pacer.ticks(record["occurred_at"], self._partitions_of(clock))
        if groups:
            self._settle()
            value = self.serde.encode("ClockTick", {"occurred_at": self.pacer.reached})
            for group in groups:
                for partition in group:
                    key = str(partition).encode()
                    self.producer.produce(
                        clock, value, key, partition=partition, on_delivery=self._delivered
                    )
                self._settle()
        keys = self.pacer.touches(event_type, record, position[1])
        if self.pacer.must_wait(keys, position):
            self._settle()
        self.pacer.publish(keys, position)

    def _partition_of(self, topic: str, key: bytes) -> int:
        """Kafka's default key partitioning (murmur2), known before publishing, to pace by it."""
        partitions = self._partitions_of(topic)
        return _PARTITIONER(key, partitions, partitions)

    def _partitions_of(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            metadata = self.producer.list_topics(topic, timeout=10).topics[topic]
            if not metadata.partitions:
                raise RuntimeError(f"topic {topic} does not exist: run `oms topics create`")
            self._partitions[topic] = sorted(metadata.partitions)
        return self._partitions[topic]

    def _delivered(self, error, message) -> None:
        """Delivery report (called inside poll/flush). An exception raised here reaches the
        caller mangled by the client library, so failures are kept and raised by _check."""
        if error is not None:
            self._failures.append(f"{message.topic()}: {error}")
            return
        tp = (message.topic(), message.partition())
        self._unconfirmed[tp] = max(self._unconfirmed.get(tp, -1), message.offset())

    def _check(self) -> None:
        if self._failures:
            raise RuntimeError(f"delivery failed: {self._failures[0]}")

    def _settle(self) -> None:
        """Waits until the worker has processed everything published so far."""
        self.producer.flush()
        self._check()
        if self.wait_processed and self._unconfirmed:
            self.wait_processed(dict(self._unconfirmed))
            self._unconfirmed.clear()
        if self.pacer:
            self.pacer.settled()

    def _dead_letter(self, source: str, line: Line, event_type: str, reason: str) -> None:
        rejected = Rejected(reason, None if event_type in ("unparsed", "?") else event_type)
        key = f"{source}:{line.number}".encode()
        record = dead_letter_record(
            rejected,
            f"file:{source}",
            0,
            line.number,
            _now_ms(),
            key,
            line.text.rstrip("\n").encode(),
        )
        self.producer.produce(
            DEAD_LETTERS.name(self.prefix), self.serde.encode("DeadLetter", record), key
        )


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnknownEventType):
        return f"unknown event type {exc.args[0]!r}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc}"
    return str(exc)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def publish_events(
    producer: Producer, topic_prefix: str, events: Iterable[dict], source: str = "generated"
) -> ReplaySummary:
    """Publishes canonical events as fast as the broker takes them, without pacing."""
    lines = (Line(n, json.dumps(event)) for n, event in enumerate(events, start=1))
    return Replayer(producer, AvroSerde(), topic_prefix, None).publish(source, lines)
