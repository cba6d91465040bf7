"""streams/ingest/validation.py: the rules an Avro schema cannot express."""

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.canonical import to_record
from streams import topics
from streams.ingest.validation import problems

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [json.loads(line) for line in (ROOT / "samples/day.jsonl").read_text().splitlines()]
RECORDS = [to_record(event) for event in SAMPLES]


def sample(event_type: str) -> dict:
    return copy.deepcopy(next(r for t, r in RECORDS if t == event_type))


def check(event_type: str, record: dict, key: bytes | None = ..., topic=None) -> list[str]:
    """problems() with the right topic and key unless given."""
    topic = topic or topics.INPUT_TOPIC_BY_EVENT_TYPE[event_type]
    if key is ...:
        key = str(record[topic.key]).encode()
    return problems(event_type, record, key, topic)


def record_id(pair) -> str:
    event_type, record = pair
    return f"{event_type}-{record['event_id'][:8]}"


@pytest.mark.parametrize("pair", RECORDS, ids=record_id)
def test_every_sample_passes(pair):
    assert check(*pair) == []


# -- lines: OrderPlaced, OrderPicked, ShipmentCreated --------------------------------------

LINE_TYPES = ["OrderPlaced", "OrderPicked", "ShipmentCreated"]


@pytest.mark.parametrize("event_type", LINE_TYPES)
@pytest.mark.parametrize("quantity", [0, -1])
def test_line_quantity_must_be_positive(event_type, quantity):
    record = sample(event_type)
    record["lines"][0]["quantity"] = quantity
    line_id = record["lines"][0]["line_id"]
    assert check(event_type, record) == [f"line {line_id}: quantity must be > 0, got {quantity}"]


@pytest.mark.parametrize("event_type", LINE_TYPES)
def test_line_quantity_of_one_passes(event_type):
    record = sample(event_type)
    record["lines"][0]["quantity"] = 1
    assert check(event_type, record) == []


@pytest.mark.parametrize("event_type", LINE_TYPES)
def test_duplicate_line_ids_are_rejected(event_type):
    record = sample(event_type)
    record["lines"] = [record["lines"][0], {**record["lines"][0]}]
    assert check(event_type, record) == [f"duplicate line_id {record['lines'][0]['line_id']!r}"]


@pytest.mark.parametrize("event_type", LINE_TYPES)
def test_distinct_line_ids_pass(event_type):
    record = sample(event_type)
    record["lines"] = [record["lines"][0], {**record["lines"][0], "line_id": "L-other"}]
    assert check(event_type, record) == []


@pytest.mark.parametrize("event_type", LINE_TYPES)
def test_empty_lines_are_rejected(event_type):
    record = sample(event_type)
    record["lines"] = []
    assert check(event_type, record) == ["lines must not be empty"]


@pytest.mark.parametrize(("price", "ok"), [("0.00", True), ("0.01", True), ("-0.01", False)])
def test_unit_price_must_not_be_negative(price, ok):
    record = sample("OrderPlaced")
    record["lines"][0]["unit_price"] = Decimal(price)
    found = check("OrderPlaced", record)
    assert found == (
        [] if ok else [f"line {record['lines'][0]['line_id']}: unit_price must be >= 0"]
    )


# -- OrderPlaced ---------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY"])
def test_iso_currency_passes(currency):
    record = sample("OrderPlaced")
    record["currency"] = currency
    assert check("OrderPlaced", record) == []


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", "", "U$D", " USD"])
def test_bad_currency_is_rejected(currency):
    record = sample("OrderPlaced")
    record["currency"] = currency
    assert check("OrderPlaced", record) == [f"currency must be an ISO 4217 code, got {currency!r}"]


def test_currency_with_a_trailing_newline_is_rejected():
    record = sample("OrderPlaced")
    record["currency"] = "USD\n"
    assert check("OrderPlaced", record) != []


@pytest.mark.parametrize(
    ("latitude", "longitude", "ok"),
    [
        (90.0, 180.0, True),
        (-90.0, -180.0, True),
        (0.0, 0.0, True),
        (90.0001, 0.0, False),
        (-90.0001, 0.0, False),
        (0.0, 180.0001, False),
        (0.0, -180.0001, False),
        (float("nan"), 0.0, False),
        (0.0, float("inf"), False),
    ],
)
def test_shipping_address_coordinates(latitude, longitude, ok):
    record = sample("OrderPlaced")
    record["shipping_address"].update(latitude=latitude, longitude=longitude)
    found = check("OrderPlaced", record)
    assert found == ([] if ok else ["shipping address coordinates out of range"])


@pytest.mark.parametrize(
    ("latitude", "longitude", "ok"),
    [(40.0, -74.0, True), (-91.0, -74.0, False), (40.0, 181.0, False)],
)
def test_location_coordinates(latitude, longitude, ok):
    record = sample("LocationUpserted")
    record.update(latitude=latitude, longitude=longitude)
    assert check("LocationUpserted", record) == (
        [] if ok else ["location coordinates out of range"]
    )


def test_several_problems_are_all_reported():
    record = sample("OrderPlaced")
    record["lines"][0]["quantity"] = 0
    record["currency"] = "usd"
    record["shipping_address"]["latitude"] = 100.0
    assert len(check("OrderPlaced", record)) == 3


# -- fulfillment and inventory -------------------------------------------------------------


@pytest.mark.parametrize(("count", "ok"), [(1, True), (3, True), (0, False), (-1, False)])
def test_package_count_must_be_positive(count, ok):
    record = sample("OrderPacked")
    record["package_count"] = count
    found = check("OrderPacked", record)
    assert found == ([] if ok else [f"package_count must be > 0, got {count}"])


@pytest.mark.parametrize(("quantity", "ok"), [(1, True), (0, False), (-5, False)])
def test_received_quantity_must_be_positive(quantity, ok):
    record = sample("InventoryReceived")
    record["quantity"] = quantity
    found = check("InventoryReceived", record)
    assert found == ([] if ok else [f"quantity must be > 0, got {quantity}"])


@pytest.mark.parametrize(("delta", "ok"), [(5, True), (-5, True), (0, False)])
def test_adjustment_delta_must_not_be_zero(delta, ok):
    record = sample("InventoryAdjusted")
    record["delta"] = delta
    assert check("InventoryAdjusted", record) == ([] if ok else ["delta must not be zero"])


@pytest.mark.parametrize(("count", "ok"), [(0, True), (12, True), (-1, False)])
def test_counted_on_hand_must_not_be_negative(count, ok):
    record = sample("InventoryCounted")
    record["counted_on_hand"] = count
    assert check("InventoryCounted", record) == ([] if ok else ["counted_on_hand must be >= 0"])


def test_transfer_to_another_location_passes():
    record = sample("InventoryTransferred")
    assert record["from_location_id"] != record["to_location_id"]
    assert check("InventoryTransferred", record) == []


def test_transfer_to_the_same_location_is_rejected():
    record = sample("InventoryTransferred")
    record["to_location_id"] = record["from_location_id"]
    assert check("InventoryTransferred", record) == ["a transfer needs two different locations"]


@pytest.mark.parametrize("quantity", [0, -2])
def test_transfer_quantity_must_be_positive(quantity):
    record = sample("InventoryTransferred")
    record["quantity"] = quantity
    assert check("InventoryTransferred", record) == [f"quantity must be > 0, got {quantity}"]


# -- envelope: topic, key, event_id --------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "topic"),
    [
        ("OrderPlaced", topics.INVENTORY),
        ("InventoryReceived", topics.ORDERS),
        ("CarrierScan", topics.FULFILLMENT),
        ("LocationUpserted", topics.CARRIER_SCANS),
        ("ShipmentCreated", topics.ORDERS),
    ],
)
def test_event_type_on_the_wrong_topic_is_rejected(event_type, topic):
    record = sample(event_type)
    found = problems(event_type, record, b"whatever", topic)
    assert found == [f"{event_type} does not belong on the {topic.suffix} topic"]


@pytest.mark.parametrize("topic", topics.INPUT_TOPICS, ids=lambda t: t.suffix)
def test_every_input_topic_accepts_its_own_types(topic):
    for event_type in topic.event_types:
        assert check(event_type, sample(event_type), topic=topic) == []


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("OrderPlaced", "order_id"),
        ("OrderPacked", "order_id"),
        ("InventoryCounted", "sku"),
        ("CarrierScan", "tracking_number"),
        ("LocationUpserted", "location_id"),
    ],
)
def test_message_key_must_match_the_key_field(event_type, field):
    record = sample(event_type)
    assert check(event_type, record, key=record[field].encode()) == []
    found = check(event_type, record, key=b"not-the-key")
    assert found == [f"message key b'not-the-key' is not the event's {field} {record[field]!r}"]


def test_key_none_is_rejected():
    record = sample("OrderCancelled")
    found = check("OrderCancelled", record, key=None)
    assert found == [f"message key None is not the event's order_id {record['order_id']!r}"]


def test_undecodable_key_bytes_are_rejected_not_raised():
    record = sample("OrderCancelled")
    assert len(check("OrderCancelled", record, key=b"\xff\xfe")) == 1


@pytest.mark.parametrize(
    "event_id", ["", "not-a-uuid", "1234", "348922d7-c1a6-44dc-bab5-b3733c1ae91"]
)
def test_event_id_must_be_a_uuid(event_id):
    record = sample("OrderCancelled")
    record["event_id"] = event_id
    assert check("OrderCancelled", record) == [f"event_id is not a UUID: {event_id!r}"]


def test_event_id_uuid_passes():
    record = sample("OrderCancelled")
    record["event_id"] = "348922d7-c1a6-44dc-bab5-b3733c1ae917"
    assert check("OrderCancelled", record) == []


def test_types_without_domain_rules_check_only_the_envelope():
    record = sample("CarrierScan")
    record["event_id"] = "nope"
    found = check("CarrierScan", record, key=None)
    assert len(found) == 2
    assert found[0].startswith("event_id is not a UUID")
    assert found[1].startswith("message key None")
