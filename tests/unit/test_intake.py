"""streams/ingest/intake.py: the decision for one input message, and its dead letter."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.canonical import to_record
from schemas.serde import AvroSerde
from streams import topics
from streams.ingest.intake import Accepted, Duplicate, Rejected, dead_letter_record, examine

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [json.loads(line) for line in (ROOT / "samples/day.jsonl").read_text().splitlines()]
SERDE = AvroSerde()
HERE = "oms.orders:0:42"


def sample(event_type: str) -> dict:
    event = next(e for e in SAMPLES if e["type"] == event_type)
    return copy.deepcopy(to_record(event)[1])


def never_seen(_event_id: str) -> None:
    return None


def seen_at(where: str):
    return lambda _event_id: where


PLACED = sample("OrderPlaced")
PLACED_BYTES = SERDE.encode("OrderPlaced", PLACED)
PLACED_KEY = PLACED["order_id"].encode()


def test_valid_sample_is_accepted():
    outcome = examine(SERDE, topics.ORDERS, PLACED_KEY, PLACED_BYTES, HERE, never_seen)
    assert outcome == Accepted("OrderPlaced", PLACED["event_id"], PLACED)
    assert outcome.record["occurred_at"].tzinfo is not None


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{e['type']}-{e['event_id'][:8]}")
def test_every_sample_is_accepted_on_its_topic(event):
    event_type, record = to_record(event)
    topic = topics.INPUT_TOPIC_BY_EVENT_TYPE[event_type]
    key = str(record[topic.key]).encode()
    outcome = examine(SERDE, topic, key, SERDE.encode(event_type, record), HERE, never_seen)
    assert isinstance(outcome, Accepted)


@pytest.mark.parametrize("value", [None, b"", b"garbage bytes", b"\x00\x00\x00\x00\x01xyz"])
def test_garbage_is_rejected_without_event_type(value):
    looked_up = []
    outcome = examine(SERDE, topics.ORDERS, PLACED_KEY, value, HERE, lambda e: looked_up.append(e))
    assert isinstance(outcome, Rejected)
    assert outcome.reason
    assert outcome.event_type is None
    assert outcome.event_id is None
    assert looked_up == []  # no event_id, no seen-table lookup


def test_domain_invalid_record_is_rejected_with_its_type_and_id():
    record = copy.deepcopy(PLACED)
    record["lines"][0]["quantity"] = 0
    outcome = examine(
        SERDE, topics.ORDERS, PLACED_KEY, SERDE.encode("OrderPlaced", record), HERE, never_seen
    )
    assert isinstance(outcome, Rejected)
    assert outcome.event_type == "OrderPlaced"
    assert outcome.event_id == record["event_id"]
    assert "quantity must be > 0" in outcome.reason


def test_all_problems_are_joined_in_the_reason():
    record = copy.deepcopy(PLACED)
    record["currency"] = "usd"
    outcome = examine(
        SERDE, topics.ORDERS, None, SERDE.encode("OrderPlaced", record), HERE, never_seen
    )
    assert "; " in outcome.reason
    assert "currency" in outcome.reason
    assert "message key None" in outcome.reason


def test_wrong_topic_is_rejected():
    outcome = examine(SERDE, topics.INVENTORY, PLACED_KEY, PLACED_BYTES, HERE, never_seen)
    assert outcome == Rejected(
        "OrderPlaced does not belong on the inventory topic", "OrderPlaced", PLACED["event_id"]
    )


def test_seen_at_another_position_is_a_duplicate():
    outcome = examine(
        SERDE, topics.ORDERS, PLACED_KEY, PLACED_BYTES, HERE, seen_at("oms.orders:0:7")
    )
    assert outcome == Duplicate("OrderPlaced", PLACED["event_id"])


def test_a_duplicate_is_not_validated():
    # a duplicate changes nothing, even with a wrong key
    outcome = examine(SERDE, topics.ORDERS, b"wrong", PLACED_BYTES, HERE, seen_at("x:0:1"))
    assert isinstance(outcome, Duplicate)


def test_seen_at_the_same_position_is_a_reread_and_accepted_again():
    outcome = examine(SERDE, topics.ORDERS, PLACED_KEY, PLACED_BYTES, HERE, seen_at(HERE))
    assert isinstance(outcome, Accepted)


def test_the_seen_table_is_asked_for_the_event_id():
    asked = []
    examine(SERDE, topics.ORDERS, PLACED_KEY, PLACED_BYTES, HERE, lambda e: asked.append(e))
    assert asked == [PLACED["event_id"]]


def test_a_dead_letter_record_on_an_input_topic_is_rejected_not_raised():
    letter = dead_letter_record(Rejected("bad"), "oms.orders", 0, 1, 1_000, None, b"x")
    value = SERDE.encode("DeadLetter", letter)
    outcome = examine(SERDE, topics.ORDERS, PLACED_KEY, value, HERE, never_seen)
    assert isinstance(outcome, Rejected)
    assert outcome.event_type == "DeadLetter"


# -- dead letters --------------------------------------------------------------------------


def test_dead_letter_record_fields():
    outcome = Rejected("currency must be an ISO 4217 code", "OrderPlaced", PLACED["event_id"])
    record = dead_letter_record(
        outcome, "oms.orders", 2, 99, 1_763_632_820_970, PLACED_KEY, PLACED_BYTES
    )
    assert record == {
        "topic": "oms.orders",
        "partition": 2,
        "offset": 99,
        "error": "currency must be an ISO 4217 code",
        "event_type": "OrderPlaced",
        "received_at": datetime(2025, 11, 20, 10, 0, 20, 970000, tzinfo=UTC),
        "key": PLACED_KEY,
        "value": PLACED_BYTES,
    }


@pytest.mark.parametrize("timestamp_ms", [None, 0, -1])
def test_dead_letter_without_a_kafka_timestamp_gets_the_epoch(timestamp_ms):
    record = dead_letter_record(Rejected("x"), "oms.orders", 0, 0, timestamp_ms, None, None)
    assert record["received_at"] == datetime(1970, 1, 1, tzinfo=UTC)
    assert record["value"] == b""
    assert record["key"] is None
    assert record["event_type"] is None


@pytest.mark.parametrize(
    "outcome", [Rejected("too short"), Rejected("bad", "OrderPlaced", PLACED["event_id"])]
)
def test_dead_letter_record_encodes_as_a_dead_letter(outcome):
    record = dead_letter_record(outcome, "oms.orders", 1, 5, 1_000, b"k", b"\x00\x01")
    event_type, decoded = SERDE.decode(SERDE.encode("DeadLetter", record))
    assert event_type == "DeadLetter"
    assert decoded == record


def test_garbage_flows_into_a_dead_letter():
    outcome = examine(SERDE, topics.ORDERS, b"k", b"\x07junk", HERE, never_seen)
    record = dead_letter_record(outcome, "oms.orders", 0, 42, 5_000, b"k", b"\x07junk")
    assert record["error"] == outcome.reason
    assert record["event_type"] is None
    assert record["value"] == b"\x07junk"
