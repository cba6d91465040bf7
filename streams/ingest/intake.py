"""The intake decision for one input message, as a pure function of its bytes and the seen-table.

decode -> (duplicate? skip) -> validate -> accept or dead-letter. Undecodable bytes have no
event_id, so they are dead-lettered without de-duplication (their position makes the
dead-letter row unique).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.serde import AvroSerde, DecodeError
from streams.ingest import dedupe, validation
from streams.topics import TopicSpec


@dataclass(frozen=True)
class Accepted:
    event_type: str
    event_id: str
    record: dict = field(compare=False, repr=False)


@dataclass(frozen=True)
class Rejected:
    reason: str
    event_type: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class Duplicate:
    event_type: str
    event_id: str


Outcome = Accepted | Rejected | Duplicate


def examine(
    serde: AvroSerde,
    topic: TopicSpec,
    key: bytes | None,
    value: bytes | None,
    here: str,
    first_seen_at,
) -> Outcome:
    """first_seen_at: event_id -> position of its first message, or None (the seen-table)."""
    try:
        event_type, record = serde.decode(value)
    except DecodeError as exc:
        return Rejected(str(exc))
    if event_type not in topic.event_types:
        reason = f"{event_type} does not belong on the {topic.suffix} topic"
        return Rejected(reason, event_type, record.get(topic.id_field))
    event_id = record[topic.id_field]
    if dedupe.verdict(first_seen_at(event_id), here) is dedupe.Verdict.DUPLICATE:
        return Duplicate(event_type, event_id)
    found = validation.problems(event_type, record, key, topic)
    if found:
        return Rejected("; ".join(found), event_type, event_id)
    return Accepted(event_type, event_id, record)


def dead_letter_record(
    outcome: Rejected,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
) -> dict:
    """A DeadLetter record; received_at is the message's Kafka timestamp (replays keep it)."""
    received_ms = timestamp_ms if timestamp_ms and timestamp_ms > 0 else 0
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "error": outcome.reason,
        "event_type": outcome.event_type,
        "received_at": datetime.fromtimestamp(received_ms / 1000, UTC),
        "key": key,
        "value": value or b"",
    }
