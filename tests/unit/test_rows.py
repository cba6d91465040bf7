"""connectors/clickhouse/rows.py: which ClickHouse rows an event or a dead letter becomes."""

import copy
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors.clickhouse.rows import ORDER_STATUS_AFTER, dead_letter_row, event_rows
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
    assert json.loads(row["payload"]) == to_canonical(event_type, record)


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
    rows = rows_of(event)
    assert rows["raw_events"]["source"] == ""
    assert rows["order_events"]["source"] == ""


def test_order_placed_gives_raw_and_order_events_on_hold():
    event = sample("OrderPlaced")
    event_type, record = decoded(event)
    rows = event_rows(event_type, record, "oms.orders", 0, 1, event["order_id"].encode())
    assert [table for table, _ in rows] == ["raw_events", "order_events"]
    assert rows[1][1] == {
        "event_id": event["event_id"],
        "order_id": event["order_id"],
        "type": "OrderPlaced",
        "status": "on_hold",
        "occurred_at": record["occurred_at"],
        "channel": event["channel"],
        "location_id": "",
        "source": event["source"],
    }


@pytest.mark.parametrize("event_type", sorted(ORDER_STATUS_AFTER))
def test_order_side_events_get_their_status(event_type):
    event = sample(event_type)
    order_row = rows_of(event)["order_events"]
    assert order_row["status"] == ORDER_STATUS_AFTER[event_type]
    assert order_row["order_id"] == event["order_id"]
    assert order_row["location_id"] == event.get("location_id", "")
    assert order_row["channel"] == event.get("channel", "")


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
