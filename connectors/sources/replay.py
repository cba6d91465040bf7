"""Publishes a file of canonical JSON events (one per line) to their topics, in file order.

File order is arrival order. Kafka keeps order within a partition; across partitions the
replayer waits, before it publishes to a partition other than the previous one, until the
worker has committed everything published so far, so each event is processed after the
ones before it, as it would be live. Each record's Kafka timestamp is its occurred_at, so a
replay stamps the same times every run. Lines that cannot become an event (not JSON, unknown
type, schema violation) go straight to the dead-letter topic, keyed by file and line.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer

from connectors.sources.partitioning import partition_for
from schemas.canonical import to_record
from schemas.catalog import UnknownEventType
from schemas.serde import AvroSerde, SchemaViolation
from streams.ingest.intake import Rejected, dead_letter_record
from streams.topics import DEAD_LETTERS, INPUT_TOPIC_BY_EVENT_TYPE


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
        wait_processed: Callable[[dict[tuple[str, int], int]], None],
    ) -> None:
        """wait_processed(last offsets by (topic, partition)) returns once they are processed."""
        self.producer = producer
        self.serde = serde
        self.prefix = topic_prefix
        self.wait_processed = wait_processed
        self._last_partition: tuple[str, int] | None = None
        self._unconfirmed: dict[tuple[str, int], int] = {}
        self._partition_counts: dict[str, int] = {}

    def replay(self, path: Path, on_line: Callable[[], None] = lambda: None) -> ReplaySummary:
        summary = ReplaySummary()
        for line in read_lines(path):
            self._publish_line(path, line, summary)
            on_line()
        self.producer.flush()
        self._settle()
        return summary

    def _publish_line(self, path: Path, line: Line, summary: ReplaySummary) -> None:
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
            self._dead_letter(path, line, event_type, _reason(exc))
            return
        topic = topic_spec.name(self.prefix)
        key = str(record[topic_spec.key]).encode()
        partition = self._partition_of(topic, key)
        if self._last_partition not in (None, (topic, partition)):
            self._settle()
        self._last_partition = (topic, partition)
        self.producer.produce(
            topic, value, key, partition=partition,
            timestamp=int(record["occurred_at"].timestamp() * 1000),
            on_delivery=self._delivered,
        )
        self.producer.poll(0)
        summary.published[event_type] += 1

    def _partition_of(self, topic: str, key: bytes) -> int:
        if topic not in self._partition_counts:
            metadata = self.producer.list_topics(topic, timeout=10).topics[topic]
            self._partition_counts[topic] = len(metadata.partitions)
        return partition_for(key, self._partition_counts[topic])

    def _delivered(self, error, message) -> None:
        if error is not None:
            raise RuntimeError(f"delivery failed: {error}")
        tp = (message.topic(), message.partition())
        self._unconfirmed[tp] = max(self._unconfirmed.get(tp, -1), message.offset())

    def _settle(self) -> None:
        """Waits until the worker has processed everything published so far."""
        self.producer.flush()
        if self._unconfirmed:
            self.wait_processed(dict(self._unconfirmed))
            self._unconfirmed.clear()

    def _dead_letter(self, path: Path, line: Line, event_type: str, reason: str) -> None:
        rejected = Rejected(reason, None if event_type in ("unparsed", "?") else event_type)
        record = dead_letter_record(
            rejected, f"file:{path.name}", 0, line.number, _now_ms(),
            f"{path.name}:{line.number}".encode(), line.text.rstrip("\n").encode(),
        )
        self.producer.produce(
            DEAD_LETTERS.name(self.prefix),
            self.serde.encode("DeadLetter", record),
            f"{path.name}:{line.number}".encode(),
        )


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnknownEventType):
        return f"unknown event type {exc.args[0]!r}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc}"
    return str(exc)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)

