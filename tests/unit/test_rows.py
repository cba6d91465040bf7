"""connectors/clickhouse/rows.py: which ClickHouse rows an event or a dead letter becomes."""

import copy
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.clickhouse.pii import configured_keyer, scrub_payload
from connectors.clickhouse.rows import (
    allocation_row,
    dead_letter_row,
    delivery_exception_row,
    event_rows,
    notification_row,
    order_update_rows,
    shipment_row,
)
from schemas.canonical import to_canonical, to_record
from schemas.serde import AvroSerde

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [json.loads(line) for line in (ROOT / "samples/day.jsonl").read_text().splitlines()]
SERDE = AvroSerde()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decoded(event: dict) -> tuple[str, dict]:
    """What the sink sees: the record after an Avro round trip."""
    return SERDE.decode(SERDE.encode(*to_record(event)))


def sample(event_type: str) -> dict:
    return copy.deepcopy(next(e for e in SAMPLES if e["type"] == event_type))


def rows_of(event: dict, key: bytes | None = b"key-1") -> dict[str, dict]:
    event_type, record = decoded(event)
    rows = event_rows(event_type, record, "oms.topic", 3, 1234, key)
    tables = [table for table, _ in rows]
    assert len(tables) == len(set(tables))
    return dict(rows)


def epoch_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{e['type']}-{e['event_id'][:8]}")
def test_raw_events_row_for_every_sample(event):
    event_type, record = decoded(event)
    table, row = event_rows(event_type, record, "oms.topic", 3, 1234, b"key-1")[0]
    assert table == "raw_events"
    assert row == {
        "event_id": event["event_id"],
        "type": event["type"],
        "topic": "oms.topic",
        "partition": 3,
        "offset": 1234,
        "key": "key-1",
        "occurred_at": record["occurred_at"],
        "source": event.get("source") or "",
        "payload": row["payload"],
    }
    # the canonical JSON without personal data (tests/unit/test_pii.py)
    expected = scrub_payload(to_canonical(event_type, record), configured_keyer())
    assert json.loads(row["payload"]) == expected


def test_raw_events_payload_keeps_no_personal_data():
    event = sample("OrderPlaced")
    payload = rows_of(event)["raw_events"]["payload"]
    for value in (
        event["customer"]["email"],
        event["customer"]["customer_id"],
        event["shipping_address"]["name"],
        event["shipping_address"]["line1"],
    ):
        assert value not in payload
    parsed = json.loads(payload)
    assert parsed["customer"] == {
        "customer_key": configured_keyer()(event["customer"]["customer_id"])
    }
    assert parsed["shipping_address"] == {
        "city": event["shipping_address"]["city"],
        "region": event["shipping_address"]["region"],
        "postal_code": event["shipping_address"]["postal_code"][:3],
        "country": event["shipping_address"]["country"],
    }


def test_payload_is_compact_canonical_json():
    event = sample("OrderPlaced")
    payload = rows_of(event)["raw_events"]["payload"]
    assert payload.startswith('{"type":"OrderPlaced",')
    assert ", " not in payload and '": ' not in payload
    parsed = json.loads(payload)
    assert parsed["occurred_at"] == event["occurred_at"]
    assert parsed["lines"][0]["unit_price"] == event["lines"][0]["unit_price"]


@pytest.mark.parametrize(("key", "expected"), [(None, ""), (b"SO-1", "SO-1"), (b"\xff", "\ufffd")])
def test_raw_events_key_text(key, expected):
    assert rows_of(sample("OrderCancelled"), key=key)["raw_events"]["key"] == expected


def test_missing_source_is_an_empty_string():
    event = sample("OrderCancelled")
    event.pop("source", None)
    assert rows_of(event)["raw_events"]["source"] == ""


# Order lifecycle rows come only from order-status (OrderUpdate): the state machine publishes
# every change there under the input event's id, so a row made from the input event too
# would give one event_id two rows with different statuses.
ORDER_INPUT_TYPES = [
    "OrderPlaced",
    "OrderCancelled",
    "OrderPicked",
    "OrderPacked",
    "ShipmentCreated",
]


@pytest.mark.parametrize("event_type", ORDER_INPUT_TYPES)
def test_order_input_events_give_only_raw_events(event_type):
    event = sample(event_type)
    event_type, record = decoded(event)
    rows = event_rows(event_type, record, "oms.accepted-events", 0, 1, event["order_id"].encode())
    assert [table for table, _ in rows] == ["raw_events"]


def test_no_input_event_writes_order_state_tables():
    for event in SAMPLES:
        assert not set(rows_of(event)) & {"order_events", "orders", "shipments"}, event["type"]


def test_carrier_scan_with_every_optional_missing():
    event = sample("CarrierScan")
    for optional in ("status_detail", "carrier_code", "description", "location"):
        event.pop(optional, None)
    event.pop("estimated_delivery_date", None)
    rows = rows_of(event)
    assert set(rows) == {"raw_events", "carrier_scans"}
    scan = rows["carrier_scans"]
    for column in (
        "status_detail",
        "carrier_code",
        "description",
        "location_city",
        "location_region",
        "location_country",
        "location_postal_code",
    ):
        assert scan[column] == "", column
    assert scan["estimated_delivery_date"] is None
    assert scan["tracking_number"] == event["tracking_number"]
    assert scan["carrier"] == event["carrier"]
    assert scan["status"] == event["status"]


def test_carrier_scan_with_a_partial_location_and_a_date():
    event = sample("CarrierScan")
    event["location"] = {"city": "Reno", "country": "US"}
    event["estimated_delivery_date"] = "2026-11-22"
    event["status_detail"] = "weather_delay"
    scan = rows_of(event)["carrier_scans"]
    assert scan["location_city"] == "Reno"
    assert scan["location_country"] == "US"
    assert scan["location_region"] == ""
    assert scan["location_postal_code"] == ""
    assert scan["status_detail"] == "weather_delay"
    assert scan["estimated_delivery_date"] == date(2026, 11, 22)


def test_location_upserted_row_is_versioned_by_event_time():
    event = sample("LocationUpserted")
    rows = rows_of(event)
    assert set(rows) == {"raw_events", "locations"}
    row = rows["locations"]
    occurred = datetime.fromisoformat(event["occurred_at"])
    assert row == {
        "location_id": event["location_id"],
        "name": event["name"],
        "kind": event["kind"],
        "latitude": event["latitude"],
        "longitude": event["longitude"],
        "country": event["country"],
        "postal_code": event["postal_code"],
        "ships_orders": event["ships_orders"],
        "updated_at": occurred,
        "version": epoch_ms(occurred),
    }


@pytest.mark.parametrize("event", [e for e in SAMPLES if e["type"] == "LocationUpserted"])
def test_location_version_is_the_epoch_millisecond_of_each_sample(event):
    occurred = datetime.fromisoformat(event["occurred_at"])
    assert rows_of(event)["locations"]["version"] == epoch_ms(occurred)


@pytest.mark.parametrize("occurred_at", ["2004-02-22T17:26:06.649Z", "2039-03-28T02:40:55.476Z"])
def test_location_version_is_exact_for_every_millisecond(occurred_at):
    event = sample("LocationUpserted")
    event["occurred_at"] = occurred_at
    assert rows_of(event)["locations"]["version"] == epoch_ms(datetime.fromisoformat(occurred_at))


@pytest.mark.parametrize(
    "event_type",
    ["InventoryReceived", "InventoryAdjusted", "InventoryCounted", "InventoryTransferred"],
)
def test_inventory_events_give_only_raw_events(event_type):
    assert set(rows_of(sample(event_type))) == {"raw_events"}


def test_dead_letter_row():
    record = {
        "topic": "oms.orders",
        "partition": 1,
        "offset": 77,
        "error": "too short for the Avro wire format",
        "event_type": None,
        "received_at": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        "key": b"SO-1",
        "value": b"\x00",
    }
    assert dead_letter_row(record) == (
        "dead_letters",
        {
            "topic": "oms.orders",
            "partition": 1,
            "offset": 77,
            "error": "too short for the Avro wire format",
            "event_type": None,
            "key": "SO-1",
            "received_at": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        },
    )


def test_dead_letter_row_without_a_key_and_with_a_type():
    record = {
        "topic": "oms.orders",
        "partition": 0,
        "offset": 0,
        "error": "bad",
        "event_type": "OrderPlaced",
        "received_at": EPOCH,
        "key": None,
        "value": b"",
    }
    _, row = dead_letter_row(record)
    assert row["key"] == ""
    assert row["event_type"] == "OrderPlaced"
    assert "value" not in row


# Derived records, as the order, allocation, notification and tracking processors publish them.
T0 = datetime(2026, 11, 20, 10, 31, 7, 412_000, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def order_update(**changes) -> dict:
    """A new order on hold: no stage reached yet, so every stage timestamp is None."""
    record = {
        "event_id": "3f0b7c1e-5a7d-4b8e-9a51-0c2f6e1d9b44",
        "order_id": "SO-58231",
        "type": "OrderPlaced",
        "status": "on_hold",
        "previous_status": "",
        "occurred_at": T0,
        "version": 1,
        "location_id": "",
        "channel": "web",
        "placed_at": T0,
        "hold_until": at(30),
        "allocated_at": None,
        "picked_at": None,
        "packed_at": None,
        "shipped_at": None,
        "delivered_at": None,
        "cancelled_at": None,
        "cancel_reason": "",
        "ship_by_at": None,
        "promised_delivery_date": None,
        "shipping_country": "US",
        "shipping_region": "NJ",
        "shipping_city": "Hoboken",
        "shipping_method": "standard",
        "line_count": 3,
        "order_total": Decimal("1234.50"),
        "currency": "USD",
        "customer_key": "c9d1f0a27b3e4c55",
    }
    return {**record, **changes}


def shipped_update(**changes) -> dict:
    """The same order after its shipment: every stage up to shipped is set."""
    return order_update(
        event_id="a5aa3c81-4f42-4dcb-b394-fb36bb2d420f",
        type="ShipmentCreated",
        status="shipped",
        previous_status="packed",
        occurred_at=at(182),
        version=5,
        location_id="WH-EAST",
        allocated_at=at(30),
        picked_at=at(95),
        packed_at=at(140),
        shipped_at=at(182),
        ship_by_at=at(30 + 24 * 60),
        promised_delivery_date=date(2026, 11, 24),
        **changes,
    )


def allocation(**changes) -> dict:
    record = {
        "order_id": "SO-58231",
        "line_id": "L2",
        "sku": "HOODIE-GRY-M",
        "location_id": "WH-EAST",
        "quantity": 3,
        "state": "reserved",
        "occurred_at": at(30),
        "version": 2,
    }
    return {**record, **changes}


def notification(**changes) -> dict:
    record = {
        "notification_id": "ntf-SO-58231-shipping_confirmation-a5aa3c81",
        "kind": "shipping_confirmation",
        "order_id": "SO-58231",
        "occurred_at": at(182),
        "due_at": at(182),
        "recipient_email": "jane.doe@example.com",
        "recipient_name": "Jane Doe",
        "recipient_key": "c9d1f0a27b3e4c55",
        "tracking_url": "https://www.fedex.com/fedextrack/?trknbr=759797114710",
        "details": {
            "carrier": "fedex",
            "tracking_number": "759797114710",
            "promised_delivery_date": "2026-11-24",
        },
    }
    return {**record, **changes}


def delivery_exception(**changes) -> dict:
    record = {
        "exception_id": "dex-SHP-90412-failed_attempt-1",
        "kind": "failed_attempt",
        "state": "opened",
        "severity": "warning",
        "tracking_number": "759797114710",
        "shipment_id": "SHP-90412",
        "order_id": "SO-58231",
        "carrier": "fedex",
        "status_detail": "recipient_unavailable",
        "carrier_code": "DE08",
        "detail": "Delivery attempted; recipient not available",
        "region": "NJ",
        "origin_location_id": "WH-EAST",
        "opened_at": at(2 * 24 * 60),
        "resolved_at": None,
        "occurred_at": at(2 * 24 * 60),
        "version": 1,
    }
    return {**record, **changes}


def shipment_recorded(**changes) -> dict:
    record = {
        "event_id": "5f1f3c4e-8a55-4f0c-9d53-2f2b8e3c9a10",
        "shipment_id": "SHP-90412",
        "order_id": "SO-58231",
        "location_id": "WH-EAST",
        "carrier": "fedex",
        "service": "same_day_city",
        "tracking_number": "759797114710",
        "shipped_at": at(182),
        "promised_delivery_date": date(2026, 11, 24),
        "origin_country": "US",
        "origin_postal_code": "07094",
        "shipping_country": "US",
        "shipping_region": "NJ",
        "tracking_url": "https://www.fedex.com/fedextrack/?trknbr=759797114710",
        "lines": [
            {"line_id": "L1", "sku": "SOCK-3PK-BLK", "quantity": 2},
            {"line_id": "L2", "sku": "HOODIE-GRY-M", "quantity": 3},
        ],
    }
    return {**record, **changes}


def round_trip(event_type: str, record: dict) -> dict:
    """The record as the sink decodes it (and proof that it is valid for its schema)."""
    decoded_type, decoded_record = SERDE.decode(SERDE.encode(event_type, record))
    assert decoded_type == event_type
    return decoded_record


def test_order_update_of_a_new_order_gives_its_state_and_its_event():
    record = round_trip("OrderUpdate", order_update())
    rows = order_update_rows(record)
    assert [table for table, _ in rows] == ["orders", "order_events"]
    orders, events = dict(rows)["orders"], dict(rows)["order_events"]
    assert orders == {
        "order_id": "SO-58231",
        "channel": "web",
        "status": "on_hold",
        "placed_at": T0,
        "hold_until": at(30),
        "allocated_at": None,
        "picked_at": None,
        "packed_at": None,
        "shipped_at": None,
        "delivered_at": None,
        "cancelled_at": None,
        "cancel_reason": "",
        "ship_by_at": None,
        "promised_delivery_date": None,
        "shipping_country": "US",
        "shipping_region": "NJ",
        "shipping_city": "Hoboken",
        "shipping_method": "standard",
        "line_count": 3,
        "order_total": Decimal("1234.50"),
        "currency": "USD",
        "customer_key": "c9d1f0a27b3e4c55",
        "updated_at": T0,
        "version": 1,
    }
    assert events == {
        "event_id": "3f0b7c1e-5a7d-4b8e-9a51-0c2f6e1d9b44",
        "order_id": "SO-58231",
        "type": "OrderPlaced",
        "status": "on_hold",
        "previous_status": "",
        "occurred_at": T0,
        "location_id": "",
        "channel": "web",
        "source": "",
        "version": 1,
    }


def test_order_update_after_shipment_carries_every_stage_and_the_location():
    record = round_trip("OrderUpdate", shipped_update())
    rows = dict(order_update_rows(record))
    orders = rows["orders"]
    assert orders["status"] == "shipped"
    assert (orders["allocated_at"], orders["picked_at"], orders["packed_at"]) == (
        at(30),
        at(95),
        at(140),
    )
    assert orders["shipped_at"] == orders["updated_at"] == at(182)
    assert orders["delivered_at"] is None and orders["cancelled_at"] is None
    assert orders["ship_by_at"] == at(30 + 24 * 60)
    assert orders["promised_delivery_date"] == date(2026, 11, 24)
    assert orders["placed_at"] == T0
    assert orders["version"] == 5
    event = rows["order_events"]
    assert (event["type"], event["status"], event["previous_status"]) == (
        "ShipmentCreated",
        "shipped",
        "packed",
    )
    assert event["location_id"] == "WH-EAST"
    assert event["occurred_at"] == at(182)


def test_a_decision_update_is_an_order_event_too():
    record = round_trip(
        "OrderUpdate",
        order_update(
            event_id="SO-58231:Allocated:2",
            type="Allocated",
            status="partially_backordered",
            previous_status="on_hold",
            occurred_at=at(30),
            version=2,
            allocated_at=at(30),
            ship_by_at=at(30 + 24 * 60),
        ),
    )
    event = dict(order_update_rows(record))["order_events"]
    assert event["type"] == "Allocated"
    assert event["status"] == "partially_backordered"
    assert event["event_id"] == "SO-58231:Allocated:2"


def test_a_cancelled_order_keeps_its_reason():
    record = round_trip(
        "OrderUpdate",
        order_update(
            type="OrderCancelled",
            status="cancelled",
            previous_status="on_hold",
            occurred_at=at(12),
            version=2,
            cancelled_at=at(12),
            cancel_reason="customer_request",
        ),
    )
    orders = dict(order_update_rows(record))["orders"]
    assert orders["cancelled_at"] == at(12)
    assert orders["cancel_reason"] == "customer_request"
    assert orders["updated_at"] == at(12)


def test_order_total_stays_an_exact_decimal():
    record = round_trip("OrderUpdate", order_update(order_total=Decimal("9999999999.99")))
    total = dict(order_update_rows(record))["orders"]["order_total"]
    assert isinstance(total, Decimal)
    assert total == Decimal("9999999999.99")


def test_allocation_row():
    record = round_trip("OrderAllocation", allocation())
    assert allocation_row(record) == (
        "order_allocations",
        {
            "order_id": "SO-58231",
            "line_id": "L2",
            "sku": "HOODIE-GRY-M",
            "location_id": "WH-EAST",
            "quantity": 3,
            "state": "reserved",
            "updated_at": at(30),
            "version": 2,
        },
    )


def test_a_backordered_allocation_has_an_empty_location():
    record = round_trip(
        "OrderAllocation", allocation(location_id="", state="backordered", quantity=1)
    )
    _, row = allocation_row(record)
    assert row["location_id"] == ""
    assert row["state"] == "backordered"


def test_notification_row_keeps_no_pii():
    record = round_trip("Notification", notification())
    table, row = notification_row(record)
    assert table == "notifications"
    assert row == {
        "notification_id": "ntf-SO-58231-shipping_confirmation-a5aa3c81",
        "order_id": "SO-58231",
        "kind": "shipping_confirmation",
        "due_at": at(182),
        "recipient_key": "c9d1f0a27b3e4c55",
        "tracking_url": "https://www.fedex.com/fedextrack/?trknbr=759797114710",
        "payload": row["payload"],
        "created_at": at(182),
    }
    assert json.loads(row["payload"]) == notification()["details"]
    assert ", " not in row["payload"] and '": ' not in row["payload"]
    text = json.dumps(row, default=str)
    assert "jane.doe@example.com" not in text
    assert "Jane Doe" not in text


def test_notification_payload_is_the_same_whatever_the_detail_order():
    forward = notification(details={"a": "1", "b": "2"})
    backward = notification(details={"b": "2", "a": "1"})
    assert notification_row(forward)[1]["payload"] == notification_row(backward)[1]["payload"]
    assert notification_row(forward)[1]["payload"] == '{"a":"1","b":"2"}'


def test_a_detail_holding_the_recipient_is_left_out():
    record = round_trip(
        "Notification",
        notification(
            kind="follow_up",
            tracking_url="",
            details={
                "greeting": "Hi Jane Doe,",
                "reply_to": "JANE.DOE@example.com",
                "order_id": "SO-58231",
            },
        ),
    )
    _, row = notification_row(record)
    assert json.loads(row["payload"]) == {"order_id": "SO-58231"}
    assert row["tracking_url"] == ""


def test_a_notification_without_details_has_an_empty_object_payload():
    _, row = notification_row(round_trip("Notification", notification(details={})))
    assert row["payload"] == "{}"


def test_an_opened_delivery_exception():
    record = round_trip("DeliveryException", delivery_exception())
    assert delivery_exception_row(record) == (
        "delivery_exceptions",
        {
            "exception_id": "dex-SHP-90412-failed_attempt-1",
            "kind": "failed_attempt",
            "state": "opened",
            "severity": "warning",
            "tracking_number": "759797114710",
            "shipment_id": "SHP-90412",
            "order_id": "SO-58231",
            "carrier": "fedex",
            "status_detail": "recipient_unavailable",
            "carrier_code": "DE08",
            "detail": "Delivery attempted; recipient not available",
            "region": "NJ",
            "origin_location_id": "WH-EAST",
            "opened_at": at(2 * 24 * 60),
            "resolved_at": None,
            "updated_at": at(2 * 24 * 60),
            "version": 1,
        },
    )


def test_a_resolved_delivery_exception_keeps_its_opening_time():
    record = round_trip(
        "DeliveryException",
        delivery_exception(
            state="resolved", resolved_at=at(3 * 24 * 60), occurred_at=at(3 * 24 * 60), version=2
        ),
    )
    _, row = delivery_exception_row(record)
    assert row["opened_at"] == at(2 * 24 * 60)
    assert row["resolved_at"] == row["updated_at"] == at(3 * 24 * 60)
    assert (row["state"], row["version"]) == ("resolved", 2)


def test_a_late_shipment_exception_has_no_parcel():
    record = round_trip(
        "DeliveryException",
        delivery_exception(
            exception_id="dex-SO-58231-late_shipment-1",
            kind="late_shipment",
            severity="critical",
            tracking_number="",
            shipment_id="",
            carrier="",
            status_detail="",
            carrier_code="",
            detail="Not shipped by the ship-by time",
        ),
    )
    _, row = delivery_exception_row(record)
    assert row["tracking_number"] == row["shipment_id"] == row["carrier"] == ""
    assert row["kind"] == "late_shipment"


def test_shipment_row_is_version_zero_before_any_scan():
    record = round_trip("ShipmentRecorded", shipment_recorded())
    assert shipment_row(record) == (
        "shipments",
        {
            "shipment_id": "SHP-90412",
            "order_id": "SO-58231",
            "location_id": "WH-EAST",
            "carrier": "fedex",
            "service": "same_day_city",
            "tracking_number": "759797114710",
            "status": "label_created",
            "status_detail": "",
            "shipped_at": at(182),
            "delivered_at": None,
            "promised_delivery_date": date(2026, 11, 24),
            "latest_estimated_delivery_date": None,
            "last_scan_at": None,
            "origin_country": "US",
            "origin_postal_code": "07094",
            "shipping_country": "US",
            "shipping_region": "NJ",
            "updated_at": at(182),
            "version": 0,
        },
    )


def test_a_shipment_without_a_promised_date():
    record = round_trip("ShipmentRecorded", shipment_recorded(promised_delivery_date=None))
    assert shipment_row(record)[1]["promised_delivery_date"] is None
