"""The first slice end to end on the real broker and chDB: intake, dead letters, sink."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from oms.pipeline import LocalPipeline
from schemas.canonical import to_record
from schemas.serde import AvroSerde
from streams.topics import INPUT_TOPICS

from .helpers import FIXTURES, SAMPLES, count_lines, producer, query, replay_file, scalar

pytestmark = pytest.mark.integration

SERDE = AvroSerde()
SAMPLE = [json.loads(line) for line in (SAMPLES / "day.jsonl").read_text().splitlines()]


ORDER_EVENT_TYPES = {
    "OrderPlaced",
    "OrderCancelled",
    "OrderPicked",
    "OrderPacked",
    "ShipmentCreated",
}


def first_sample(event_type: str) -> dict:
    return copy.deepcopy(next(e for e in SAMPLE if e["type"] == event_type))


def encoded(event: dict) -> bytes:
    return SERDE.encode(*to_record(event))


def fresh(event: dict, **changes) -> dict:
    return {**event, "event_id": str(uuid.uuid4()), **changes}


# One schema-valid event per input topic, and a way to make it impossible for the domain.
VALID = {
    "locations": first_sample("LocationUpserted"),
    "orders": first_sample("OrderPlaced"),
    "fulfillment": first_sample("OrderPacked"),
    "inventory": first_sample("InventoryReceived"),
    "carrier-scans": first_sample("CarrierScan"),
}
IMPOSSIBLE = {  # topic -> (impossible variant of its valid event, expected reason)
    "locations": (lambda e: fresh(e, latitude=123.0), "coordinates out of range"),
    "orders": (lambda e: fresh(e, lines=[{**e["lines"][0], "quantity": 0}]), "quantity must"),
    "fulfillment": (lambda e: fresh(e, package_count=0), "package_count must"),
    "inventory": (lambda e: fresh(e, quantity=-3), "quantity must be > 0"),
    "carrier-scans": (lambda e: fresh(e, event_id="not-a-uuid"), "not a UUID"),
}


def bad_messages(suffix: str) -> list[tuple[bytes, str]]:
    """(value, expected reason fragment) for one input topic."""
    valid = encoded(fresh(VALID[suffix]))
    other_topic = "orders" if suffix != "orders" else "carrier-scans"
    make_impossible, reason = IMPOSSIBLE[suffix]
    return [
        (b"\xde\xad\xbe\xef not avro at all", "magic byte"),
        (b'{"type": "OrderPlaced"}', "magic byte"),
        (b"\x00\x00\x00\x00\x07\x02ab", "unknown schema id"),
        (valid[: len(valid) // 2], "undecodable"),
        (encoded(fresh(VALID[other_topic])), "does not belong on"),
        (encoded(make_impossible(VALID[suffix])), reason),
    ]


def test_bad_input_is_dead_lettered_and_the_events_around_it_are_processed(settings):
    bad_count = good_after = 0
    with LocalPipeline(settings) as pipeline:
        summary = replay_file(settings, SAMPLES / "day.jsonl", pipeline.wait_processed)
        replay_file(settings, FIXTURES / "bad_lines.jsonl")
        kafka = producer(settings)
        for spec in INPUT_TOPICS:
            key = str(VALID[spec.suffix][spec.key]).encode()
            topic = spec.name(settings.topic_prefix)
            for value, _ in bad_messages(spec.suffix):
                kafka.produce(topic, value, key)
                bad_count += 1
            good = fresh(VALID[spec.suffix])
            if spec.suffix == "orders":  # a new order: the sample's is placed already
                good["order_id"] = "SO-AFTER-THE-BAD-ONES"
            kafka.produce(topic, encoded(good), str(good[spec.key]).encode())
            good_after += 1
        kafka.flush()
        pipeline.drain()

    assert summary.published.total() == count_lines(SAMPLES / "day.jsonl") == 88
    assert scalar(settings, "SELECT count() FROM raw_events FINAL") == 88 + good_after
    # one lifecycle row per accepted order or fulfillment event, plus one per hold that
    # ended: 13 of the sample's 15 orders (one is cancelled during its hold, the last is
    # still on hold) and the order placed after the bad messages
    order_events = sum(1 for e in SAMPLE if e["type"] in ORDER_EVENT_TYPES)
    facts = ", ".join(f"'{t}'" for t in sorted(ORDER_EVENT_TYPES))
    sql = f"SELECT countIf(type IN ({facts})), countIf(type = 'Allocated') FROM order_events FINAL"
    assert query(settings, sql) == [(order_events + 2, 13 + 1)]

    rows = query(settings, "SELECT topic, error FROM dead_letters FINAL ORDER BY topic, offset")
    from_topics = [(t, e) for t, e in rows if not t.startswith("file:")]
    assert len(from_topics) == bad_count
    for spec in INPUT_TOPICS:
        errors = [e for t, e in from_topics if t == spec.name(settings.topic_prefix)]
        expected = [fragment for _, fragment in bad_messages(spec.suffix)]
        assert len(errors) == len(expected)
        for error, fragment in zip(errors, expected, strict=True):
            assert fragment in error
    from_file = [e for t, e in rows if t == "file:bad_lines.jsonl"]
    assert len(from_file) == count_lines(FIXTURES / "bad_lines.jsonl")
    assert all(from_file)


def test_a_duplicated_event_changes_nothing(settings):
    event = first_sample("OrderPlaced")
    with LocalPipeline(settings) as pipeline:
        kafka = producer(settings)
        topic = f"{settings.topic_prefix}orders"
        for _ in range(3):
            kafka.produce(topic, encoded(event), event["order_id"].encode())
        kafka.flush()
        pipeline.drain()
    assert scalar(settings, "SELECT count() FROM raw_events") == 1
    assert scalar(settings, "SELECT count() FROM order_events") == 1
