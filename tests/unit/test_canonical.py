"""schemas/canonical.py: canonical JSON <-> Avro records."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.canonical import format_timestamp, parse_timestamp, to_canonical, to_record
from schemas.catalog import UnknownEventType, default_catalog
from schemas.serde import AvroSerde, SchemaViolation

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [json.loads(line) for line in (ROOT / "samples/day.jsonl").read_text().splitlines()]
BAD_LINES = (ROOT / "tests/fixtures/bad_lines.jsonl").read_text().splitlines()


def sample_id(event: dict) -> str:
    return f"{event['type']}-{event['event_id'][:8]}"


def first(event_type: str) -> dict:
    return json.loads(json.dumps(next(e for e in SAMPLES if e["type"] == event_type)))


def without_nulls(value):
    """Missing optional keys count as null: drop the nulls on both sides before comparing."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize("event", SAMPLES, ids=sample_id)
def test_every_sample_round_trips_to_the_same_canonical_json(event):
    event_type, record = to_record(event)
    assert event_type == event["type"]
    assert without_nulls(to_canonical(event_type, record)) == without_nulls(event)


@pytest.mark.parametrize("event", SAMPLES, ids=sample_id)
def test_every_sample_round_trips_through_avro(event):
    serde = AvroSerde()
    event_type, record = serde.decode(serde.encode(*to_record(event)))
    assert without_nulls(to_canonical(event_type, record)) == without_nulls(event)


def test_missing_optional_fields_take_their_null_default():
    event = first("CarrierScan")
    for optional in ("status_detail", "carrier_code", "description", "location", "source"):
        event.pop(optional, None)
    _, record = to_record(event)
    assert record["location"] is None
    assert record["status_detail"] is None
    assert record["source"] is None


def test_to_canonical_puts_type_first():
    event = first("OrderPlaced")
    assert next(iter(to_canonical(*to_record(event)))) == "type"


def test_timestamps_keep_milliseconds_and_z():
    event = first("OrderCancelled")
    event["occurred_at"] = "2026-11-20T10:00:20.970Z"
    _, record = to_record(event)
    assert record["occurred_at"] == datetime(2026, 11, 20, 10, 0, 20, 970000, tzinfo=UTC)
    assert to_canonical("OrderCancelled", record)["occurred_at"] == "2026-11-20T10:00:20.970Z"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2026-11-20T10:00:20Z", "2026-11-20T10:00:20.000Z"),
        ("2026-11-20T10:00:20.5Z", "2026-11-20T10:00:20.500Z"),
        ("2026-11-20T10:00:20.123456Z", "2026-11-20T10:00:20.123Z"),
        ("2026-11-20T12:00:20.970+02:00", "2026-11-20T10:00:20.970Z"),
        ("2026-11-20T00:30:00.001-05:00", "2026-11-20T05:30:00.001Z"),
    ],
)
def test_timestamps_are_normalised_to_utc_milliseconds(text, canonical):
    assert format_timestamp(parse_timestamp(text)) == canonical


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
)
@settings(database=None)
def test_timestamp_text_round_trip(moment):
    text = format_timestamp(moment)
    assert text.endswith("Z")
    assert len(text.split(".")[1]) == 4  # three digits and the Z
    assert parse_timestamp(text) == moment


def test_timestamp_without_a_zone_is_rejected():
    event = first("OrderCancelled")
    event["occurred_at"] = "2026-11-20T10:00:20.970"
    with pytest.raises(SchemaViolation, match="occurred_at"):
        to_record(event)


@pytest.mark.parametrize("value", ["yesterday", 1763632820970, None, "2026-13-01T00:00:00Z"])
def test_malformed_timestamps_are_rejected(value):
    event = first("OrderCancelled")
    event["occurred_at"] = value
    with pytest.raises(SchemaViolation):
        to_record(event)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("19.99", "19.99"), ("19.9", "19.90"), ("7", "7.00"), ("0.00", "0.00"), ("1E+1", "10.00")],
)
def test_money_keeps_two_places(text, expected):
    event = first("OrderPlaced")
    event["lines"][0]["unit_price"] = text
    _, record = to_record(event)
    price = record["lines"][0]["unit_price"]
    assert price == Decimal(expected)
    assert price.as_tuple().exponent == -2
    assert to_canonical("OrderPlaced", record)["lines"][0]["unit_price"] == expected


@pytest.mark.parametrize("value", ["19.999", "0.001", "19.990", 19.99, 19, "abc", "", "NaN"])
def test_money_that_is_not_a_two_place_decimal_string_is_rejected(value):
    event = first("OrderPlaced")
    event["lines"][0]["unit_price"] = value
    with pytest.raises(SchemaViolation, match=r"lines\[0\]\.unit_price"):
        to_record(event)


@pytest.mark.parametrize(("text", "expected"), [("2026-11-20", date(2026, 11, 20)), (None, None)])
def test_optional_dates(text, expected):
    event = first("OrderPlaced")
    event["promised_delivery_date"] = text
    _, record = to_record(event)
    assert record["promised_delivery_date"] == expected
    assert to_canonical("OrderPlaced", record)["promised_delivery_date"] == text


def test_a_bad_date_is_rejected():
    event = first("OrderPlaced")
    event["promised_delivery_date"] = "2026-02-30"
    with pytest.raises(SchemaViolation, match="promised_delivery_date"):
        to_record(event)


def test_unknown_top_level_field_is_rejected():
    event = first("OrderCancelled")
    event["refund_amount"] = "19.99"
    with pytest.raises(SchemaViolation, match=r"unknown fields.*refund_amount"):
        to_record(event)


def test_unknown_nested_field_is_rejected():
    event = first("OrderPlaced")
    event["customer"]["loyalty_tier"] = "gold"
    with pytest.raises(SchemaViolation, match=r"customer.*loyalty_tier"):
        to_record(event)


def test_missing_required_field_is_rejected():
    event = first("OrderPlaced")
    del event["shipping_address"]["city"]
    with pytest.raises(SchemaViolation, match=r"shipping_address\.city: missing"):
        to_record(event)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "JSON object"),
        ("OrderPlaced", "JSON object"),
        ({"event_id": "x"}, "missing event type"),
        ({"type": 7}, "missing event type"),
    ],
)
def test_events_without_a_type_or_not_objects_are_rejected(event, message):
    with pytest.raises(SchemaViolation, match=message):
        to_record(event)


def test_nested_record_and_list_shapes_are_checked():
    event = first("OrderPlaced")
    event["customer"] = "C-1"
    with pytest.raises(SchemaViolation, match="customer"):
        to_record(event)
    event = first("OrderPlaced")
    event["lines"] = {"line_id": "L1"}
    with pytest.raises(SchemaViolation, match="lines: expected a list"):
        to_record(event)


def to_avro_bytes(line: str) -> bytes:
    return AvroSerde().encode(*to_record(json.loads(line)))


@pytest.mark.parametrize(
    ("line_no", "error"),
    [
        (0, json.JSONDecodeError),  # truncated JSON
        (1, UnknownEventType),  # OrderRefunded
        (2, SchemaViolation),  # OrderPlaced without a customer
        (3, SchemaViolation),  # quantity "ten": caught by the Avro validation in encode
        (4, SchemaViolation),  # status "teleported": not a ScanStatus symbol
    ],
)
def test_each_bad_line_raises(line_no, error):
    with pytest.raises(error):
        to_avro_bytes(BAD_LINES[line_no])


def test_the_bad_fixture_has_exactly_the_lines_above():
    assert len(BAD_LINES) == 5
    assert {json.loads(line)["type"] for line in BAD_LINES[1:]} == {
        "OrderRefunded",
        "OrderPlaced",
        "InventoryReceived",
        "CarrierScan",
    }


def test_unknown_event_type_is_a_key_error_naming_the_type():
    with pytest.raises(UnknownEventType) as info:
        to_record({"type": "OrderRefunded", "event_id": "x"})
    assert isinstance(info.value, KeyError)
    assert info.value.args == ("OrderRefunded",)


ORDER_TEMPLATE = first("OrderPlaced")


@given(
    quantities=st.lists(st.integers(min_value=1, max_value=2**31 - 1), min_size=1, max_size=5),
    prices=st.lists(
        st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2),
        min_size=5,
        max_size=5,
    ),
)
@settings(database=None, max_examples=200)
def test_generated_orders_round_trip_through_canonical_and_avro(quantities, prices):
    event = json.loads(json.dumps(ORDER_TEMPLATE))
    event["lines"] = [
        {"line_id": f"L{i}", "sku": f"SKU-{i}", "quantity": q, "unit_price": f"{prices[i]:.2f}"}
        for i, q in enumerate(quantities)
    ]
    serde = AvroSerde()
    event_type, record = to_record(event)
    assert without_nulls(to_canonical(event_type, record)) == without_nulls(event)
    decoded_type, decoded = serde.decode(serde.encode(event_type, record))
    assert decoded == record
    assert without_nulls(to_canonical(decoded_type, decoded)) == without_nulls(event)


def test_catalog_covers_every_sample_type():
    assert {e["type"] for e in SAMPLES} <= set(default_catalog().event_types)
