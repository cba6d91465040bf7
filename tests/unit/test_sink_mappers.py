"""The sink reads exactly the topics streams.topics says it does, and what it makes of them.

The round trip at the end writes the mapped rows into the embedded ClickHouse engine (chDB)
through the sink's own insert, after the real migrations, and reads them back with FINAL:
column names, types, NULLs, decimals and the version that wins are proven on the engine.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from connectors.clickhouse.client import open_client
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.sink import Batch, ClickHouseSink, pipeline_mappers
from schemas.canonical import to_record
from schemas.serde import AvroSerde
from streams.topics import (
    ACCEPTED_EVENTS,
    ALLOCATIONS,
    DELIVERY_EXCEPTIONS,
    NOTIFICATIONS,
    ORDER_UPDATES,
    SHIPMENTS,
    SINK_SOURCES,
)
from tests.unit.test_rows import (
    T0,
    allocation,
    at,
    delivery_exception,
    notification,
    order_update,
    sample,
    shipment_recorded,
    shipped_update,
)

SERDE = AvroSerde()
PREFIX = "oms."


class FakeMessage:
    """The parts of a confluent_kafka.Message the sink uses."""

    def __init__(self, topic: str, value: bytes, offset: int, key: bytes | None = None) -> None:
        self._topic, self._value, self._offset, self._key = topic, value, offset, key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return 1, 1_795_000_000_000

    def error(self) -> None:
        return None


def message(spec, event_type: str, record: dict, offset: int = 0) -> FakeMessage:
    return FakeMessage(spec.name(PREFIX), SERDE.encode(event_type, record), offset, b"k")


MAPPERS = pipeline_mappers(SERDE, PREFIX)


def mapped(msg: FakeMessage) -> list[tuple[str, dict]]:
    return MAPPERS[msg.topic()](msg)


def test_every_sink_source_has_a_mapper_and_nothing_else():
    mappers = pipeline_mappers(AvroSerde(), "oms.")
    assert set(mappers) == {spec.name("oms.") for spec in SINK_SOURCES}


@pytest.mark.parametrize(
    ("spec", "event_type", "record", "tables"),
    [
        (ORDER_UPDATES, "OrderUpdate", order_update(), ["orders", "order_events"]),
        (ALLOCATIONS, "OrderAllocation", allocation(), ["order_allocations"]),
        (NOTIFICATIONS, "Notification", notification(), ["notifications"]),
        (DELIVERY_EXCEPTIONS, "DeliveryException", delivery_exception(), ["delivery_exceptions"]),
        (SHIPMENTS, "ShipmentRecorded", shipment_recorded(), ["shipments"]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_derived_topic_maps_to_its_tables(spec, event_type, record, tables):
    assert [table for table, _ in mapped(message(spec, event_type, record))] == tables


def test_an_accepted_order_event_gives_only_its_raw_row():
    event_type, record = to_record(sample("OrderPlaced"))
    rows = mapped(message(ACCEPTED_EVENTS, event_type, record, offset=7))
    assert [table for table, _ in rows] == ["raw_events"]
    assert rows[0][1]["offset"] == 7


def test_undecodable_bytes_become_a_dead_letter_row():
    msg = FakeMessage(ORDER_UPDATES.name(PREFIX), b"\x00\x00", 12, b"SO-1")
    [(table, row)] = mapped(msg)
    assert table == "dead_letters"
    assert row["error"].startswith("sink could not decode: ")
    assert (row["topic"], row["offset"], row["key"]) == ("oms.order-status", 12, "SO-1")
    assert row["event_type"] is None


def test_a_record_of_another_type_becomes_a_dead_letter_row_not_a_crash():
    msg = FakeMessage(ORDER_UPDATES.name(PREFIX), SERDE.encode("OrderAllocation", allocation()), 5)
    [(table, row)] = mapped(msg)
    assert table == "dead_letters"
    assert row["event_type"] == "OrderAllocation"
    assert row["error"] == "sink got OrderAllocation on a topic of OrderUpdate"
    assert row["key"] == ""
    assert row["received_at"] == datetime.fromtimestamp(1_795_000_000, UTC)


# The round trip through the real engine.

CANCELLED = order_update(
    event_id="7d2e41aa-0f3b-4f7e-8f0e-1b9c1c7e5a10",
    order_id="SO-58240",
    type="OrderCancelled",
    status="cancelled",
    previous_status="on_hold",
    occurred_at=at(12),
    version=2,
    cancelled_at=at(12),
    cancel_reason="customer_request",
    placed_at=at(-5),
    hold_until=at(25),
    line_count=1,
    order_total=Decimal("0.99"),
    channel="store",
)

DERIVED = [
    # Out of order on purpose: the higher version must win whatever arrives last.
    (ORDER_UPDATES, "OrderUpdate", shipped_update()),
    (ORDER_UPDATES, "OrderUpdate", order_update()),
    (ORDER_UPDATES, "OrderUpdate", CANCELLED),
    (ALLOCATIONS, "OrderAllocation", allocation(state="shipped", occurred_at=at(182), version=5)),
    (ALLOCATIONS, "OrderAllocation", allocation()),
    (
        ALLOCATIONS,
        "OrderAllocation",
        allocation(
            line_id="L3", sku="MUG-12OZ-WHT", location_id="", state="backordered", quantity=1
        ),
    ),
    (NOTIFICATIONS, "Notification", notification()),
    (
        DELIVERY_EXCEPTIONS,
        "DeliveryException",
        delivery_exception(
            state="resolved", resolved_at=at(3 * 24 * 60), occurred_at=at(3 * 24 * 60), version=2
        ),
    ),
    (DELIVERY_EXCEPTIONS, "DeliveryException", delivery_exception()),
    (SHIPMENTS, "ShipmentRecorded", shipment_recorded()),
]


@pytest.fixture
def clickhouse(tmp_path):
    client = open_client(f"chdb://{tmp_path / 'clickhouse'}")
    try:
        migrate(client)
        yield client
    finally:
        client.close()


def write(client, messages: list[FakeMessage]) -> Batch:
    """What ClickHouseSink.step does with a consumed batch, minus Kafka."""
    batch = Batch()
    for msg in messages:
        batch.add(msg, mapped(msg))
    sink = SimpleNamespace(client=client)
    for table, table_rows in batch.rows.items():
        ClickHouseSink._insert(sink, table, table_rows, batch.dedup_token(table))
    return batch


def final(client, table: str, order_by: str) -> list[dict]:
    result = client.query(f"SELECT * FROM {table} FINAL ORDER BY {order_by}", tz_mode="aware")
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def test_derived_rows_round_trip_through_clickhouse(clickhouse):
    messages = [message(spec, t, record, offset=n) for n, (spec, t, record) in enumerate(DERIVED)]
    batch = write(clickhouse, messages)

    # Every row names only real columns, and every column without a default.
    for table, table_rows in batch.rows.items():
        columns = dict(
            clickhouse.query(
                "SELECT name, default_kind FROM system.columns"
                " WHERE database = currentDatabase() AND table = {t:String}",
                parameters={"t": table},
            ).result_rows
        )
        written = set(table_rows[0])
        assert written <= set(columns), table
        assert {c for c, kind in columns.items() if not kind} <= written, table

    orders = final(clickhouse, "orders", "order_id")
    assert [(o["order_id"], o["version"], o["status"]) for o in orders] == [
        ("SO-58231", 5, "shipped"),
        ("SO-58240", 2, "cancelled"),
    ]
    shipped, cancelled = orders
    assert shipped == dict(mapped(messages[0]))["orders"]  # every column, as mapped
    assert shipped["order_total"] == Decimal("1234.50")
    assert shipped["promised_delivery_date"] == date(2026, 11, 24)
    assert shipped["delivered_at"] is None and shipped["cancelled_at"] is None
    assert cancelled["order_total"] == Decimal("0.99")
    assert cancelled["cancelled_at"] == at(12) and cancelled["cancel_reason"] == "customer_request"
    assert cancelled["allocated_at"] is None and cancelled["ship_by_at"] is None
    assert cancelled["promised_delivery_date"] is None

    events = final(clickhouse, "order_events", "order_id, occurred_at")
    assert [
        (e["order_id"], e["type"], e["previous_status"], e["status"], e["version"]) for e in events
    ] == [
        ("SO-58231", "OrderPlaced", "", "on_hold", 1),
        ("SO-58231", "ShipmentCreated", "packed", "shipped", 5),
        ("SO-58240", "OrderCancelled", "on_hold", "cancelled", 2),
    ]
    assert events[1]["location_id"] == "WH-EAST" and events[1]["source"] == ""
    assert events[0]["occurred_at"] == T0

    allocations = final(clickhouse, "order_allocations", "line_id, location_id")
    assert [
        (a["line_id"], a["location_id"], a["state"], a["quantity"], a["version"])
        for a in allocations
    ] == [("L2", "WH-EAST", "shipped", 3, 5), ("L3", "", "backordered", 1, 2)]

    [sent] = final(clickhouse, "notifications", "notification_id")
    assert sent["kind"] == "shipping_confirmation" and sent["due_at"] == at(182)
    assert sent["created_at"] == at(182) and sent["recipient_key"] == "c9d1f0a27b3e4c55"
    assert json.loads(sent["payload"]) == notification()["details"]
    assert "example.com" not in json.dumps(sent, default=str)

    [exception] = final(clickhouse, "delivery_exceptions", "exception_id")
    assert (exception["state"], exception["version"]) == ("resolved", 2)
    assert exception["opened_at"] == at(2 * 24 * 60)
    assert exception["resolved_at"] == exception["updated_at"] == at(3 * 24 * 60)

    [shipment] = final(clickhouse, "shipments", "shipment_id")
    assert shipment == dict(mapped(messages[-1]))["shipments"]
    assert (shipment["status"], shipment["version"]) == ("label_created", 0)
    assert shipment["last_scan_at"] is None and shipment["delivered_at"] is None


def test_a_replayed_batch_collapses_under_final(clickhouse):
    messages = [message(spec, t, record, offset=n) for n, (spec, t, record) in enumerate(DERIVED)]
    tables = (
        "orders",
        "order_events",
        "order_allocations",
        "notifications",
        "delivery_exceptions",
        "shipments",
    )

    def counts(final: str = "") -> dict[str, int]:
        return {
            table: clickhouse.query(f"SELECT count() FROM {table} {final}").result_rows[0][0]
            for table in tables
        }

    write(clickhouse, messages)
    stored = counts()
    write(clickhouse, messages)  # the same batch again: dropped by its deduplication token
    assert counts() == stored
    write(clickhouse, messages[::-1][:4])  # re-formed differently: rows collapse on their keys
    assert counts("FINAL") == {
        "orders": 2,
        "order_events": 3,
        "order_allocations": 2,
        "notifications": 1,
        "delivery_exceptions": 1,
        "shipments": 1,
    }
