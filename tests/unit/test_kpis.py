"""The kpi_* views and their rollups (migrations/005_kpis.sql, connectors/clickhouse/rollups.py)
on the embedded ClickHouse engine (chDB) with the real migrations.

A small hand-made world, written through the sink's own row mappers: six orders over two days
(two channels, shipments from two warehouses, a late one, a cancellation on hold, a backorder,
an order still waiting), five shipments, five delivery exceptions (one withdrawn), and a stock
ledger at four locations (one a store that does not ship). Every number below is worked out
by hand from the stamps in the comments.
"""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.clickhouse import rollups
from connectors.clickhouse.client import open_client
from connectors.clickhouse.migrations import MIGRATIONS_DIR, migrate
from connectors.clickhouse.rows import (
    allocation_row,
    delivery_exception_row,
    event_rows,
    movement_rows,
    order_update_rows,
    shipment_row,
)

D1, D2 = date(2026, 11, 21), date(2026, 11, 22)
HOUR = 3600


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


# --- the world -----------------------------------------------------------------------------
_STAMP = {
    "Allocated": "allocated_at",
    "OrderPicked": "picked_at",
    "OrderPacked": "packed_at",
    "ShipmentCreated": "shipped_at",
    "delivered": "delivered_at",
    "OrderCancelled": "cancelled_at",
}


def journey(order_id: str, channel: str, steps: list[tuple]) -> list[dict]:
    """OrderUpdate records of one order: steps are (type, status after, time, location)."""
    placed = steps[0][2]
    stamps = {name: None for name in _STAMP.values()} | {"ship_by_at": None}
    records, status = [], ""
    for version, (kind, new_status, at, location) in enumerate(steps, 1):
        stamp = _STAMP.get(kind)
        if stamp and stamps[stamp] is None:
            stamps[stamp] = at
        if kind == "Allocated":
            stamps["ship_by_at"] = at + timedelta(hours=24)
        records.append(
            {
                "event_id": f"{order_id}-{version}",
                "order_id": order_id,
                "type": kind,
                "status": new_status,
                "previous_status": status,
                "occurred_at": at,
                "version": version,
                "location_id": location,
                "channel": channel,
                "placed_at": placed,
                "hold_until": placed + timedelta(hours=1),
                **stamps,
                "cancel_reason": "customer" if stamps["cancelled_at"] else "",
                "promised_delivery_date": date(2026, 11, 24),
                "shipping_country": "US",
                "shipping_region": "NJ",
                "shipping_city": "Hoboken",
                "shipping_method": "standard",
                "line_count": 1,
                "order_total": Decimal("10.00"),
                "currency": "USD",
                "customer_key": f"c-{order_id}",
            }
        )
        status = new_status
    return records


ORDERS = [
    # A: on hold 1 h, picked 1 h after release, packed 30 min later, shipped 30 min later
    # (3 h after placement, 2 h after release), on time; delivered 48 h after shipping.
    *journey(
        "A",
        "web",
        [
            ("OrderPlaced", "on_hold", t(21, 9), ""),
            ("Allocated", "allocated", t(21, 10), ""),
            ("OrderPicked", "picked", t(21, 11), "WH-1"),
            ("OrderPacked", "packed", t(21, 11, 30), "WH-1"),
            ("ShipmentCreated", "shipped", t(21, 12), "WH-1"),
            ("delivered", "delivered", t(23, 12), ""),
        ],
    ),
    # B: picked 2 h after release, shipped the next day at 12:00, after its ship-by (22nd
    # 10:30): 26.5 h after placement, 25.5 h after release; packed -> shipped 23 h.
    *journey(
        "B",
        "web",
        [
            ("OrderPlaced", "on_hold", t(21, 9, 30), ""),
            ("Allocated", "allocated", t(21, 10, 30), ""),
            ("OrderPicked", "picked", t(21, 12, 30), "WH-1"),
            ("OrderPacked", "packed", t(21, 13), "WH-1"),
            ("ShipmentCreated", "shipped", t(22, 12), "WH-1"),
        ],
    ),
    # C: cancelled during its hold, after 30 min.
    *journey(
        "C",
        "web",
        [
            ("OrderPlaced", "on_hold", t(21, 10, 15), ""),
            ("OrderCancelled", "cancelled", t(21, 10, 45), ""),
        ],
    ),
    # D (app): released, its only line backordered: awaiting shipment.
    *journey(
        "D",
        "app",
        [
            ("OrderPlaced", "on_hold", t(21, 10, 40), ""),
            ("Allocated", "backordered", t(21, 11, 40), ""),
        ],
    ),
    # E: 3 h to ship (2 h from release), picked -> packed 20 min, packed -> shipped 40 min.
    *journey(
        "E",
        "web",
        [
            ("OrderPlaced", "on_hold", t(21, 11), ""),
            ("Allocated", "allocated", t(21, 12), ""),
            ("OrderPicked", "picked", t(21, 13), "WH-1"),
            ("OrderPacked", "packed", t(21, 13, 20), "WH-1"),
            ("ShipmentCreated", "shipped", t(21, 14), "WH-1"),
        ],
    ),
    # F (day 2): shipped without pick or pack scans, first from WH-2 (7 h after placement),
    # a second parcel from WH-1 an hour later (no status change).
    *journey(
        "F",
        "web",
        [
            ("OrderPlaced", "on_hold", t(22, 9), ""),
            ("Allocated", "allocated", t(22, 10), ""),
            ("ShipmentCreated", "shipped", t(22, 16), "WH-2"),
            ("ShipmentCreated", "shipped", t(22, 17), "WH-1"),
        ],
    ),
]


def allocation(order_id: str, line_id: str, sku: str, location: str, state: str, v: int):
    return {
        "order_id": order_id,
        "line_id": line_id,
        "sku": sku,
        "location_id": location,
        "quantity": 1,
        "state": state,
        "occurred_at": t(21, 12),
        "version": v,
    }


ALLOCATIONS = [
    allocation("A", "1", "SKU-X", "WH-1", "reserved", 2),
    allocation("A", "1", "SKU-X", "WH-1", "shipped", 5),
    allocation("A", "2", "SKU-Y", "WH-1", "shipped", 5),
    allocation("B", "1", "SKU-X", "", "backordered", 2),  # ever backordered
    allocation("B", "1", "SKU-X", "", "filled", 3),
    allocation("B", "1", "SKU-X", "WH-1", "shipped", 5),
    allocation("D", "1", "SKU-Y", "", "backordered", 2),
    allocation("E", "1", "SKU-X", "WH-1", "shipped", 5),
    allocation("F", "1", "SKU-Y", "WH-2", "shipped", 3),
    allocation("F", "2", "SKU-X", "WH-1", "shipped", 4),
]


def shipment(shipment_id, order_id, location, carrier, service, region, shipped, **later):
    record = {
        "event_id": f"ev-{shipment_id}",
        "shipment_id": shipment_id,
        "order_id": order_id,
        "location_id": location,
        "carrier": carrier,
        "service": service,
        "tracking_number": f"TN-{shipment_id}",
        "shipped_at": shipped,
        "promised_delivery_date": later.pop("promised", date(2026, 11, 24)),
        "origin_country": "US",
        "origin_postal_code": "07094",
        "shipping_country": "US",
        "shipping_region": region,
    }
    if not later:
        return record  # as recorded (label_created, version 0)
    return record | {
        "update_id": f"up-{shipment_id}",
        "status": "delivered",
        "status_detail": "",
        "latest_estimated_delivery_date": None,
        "last_scan_at": later["delivered_at"],
        "occurred_at": later["delivered_at"],
        "version": 3,
        **later,
    }


SHIPMENTS = [
    shipment("SH-A", "A", "WH-1", "ups", "ground", "NJ", t(21, 12)),
    shipment("SH-A", "A", "WH-1", "ups", "ground", "NJ", t(21, 12), delivered_at=t(23, 12)),
    # delivered on the 25th, promised the 24th: late
    shipment("SH-B", "B", "WH-1", "ups", "ground", "NY", t(22, 12), delivered_at=t(25, 9)),
    shipment("SH-E", "E", "WH-1", "fedex", "home", "NJ", t(21, 14)),
    # delivered without a promise: not in the on-time rate
    shipment(
        "SH-F1",
        "F",
        "WH-2",
        "ups",
        "ground",
        "NJ",
        t(22, 16),
        delivered_at=t(24, 10),
        promised=None,
    ),
    # delivered late in the evening of the promised day: on time
    shipment("SH-F2", "F", "WH-1", "ups", "ground", "NJ", t(22, 17), delivered_at=t(24, 23, 30)),
]


def exception(exception_id, kind, carrier, region, origin, opened, resolved=None, **more):
    state = more.pop("state", "resolved" if resolved else "opened")
    return {
        "exception_id": exception_id,
        "kind": kind,
        "state": state,
        "severity": "warning",
        "tracking_number": "",
        "shipment_id": "",
        "order_id": "",
        "carrier": carrier,
        "status_detail": "",
        "carrier_code": "",
        "detail": "",
        "region": region,
        "origin_location_id": origin,
        "opened_at": opened,
        "resolved_at": resolved,
        "occurred_at": resolved or opened,
        "version": 2 if resolved else 1,
    }


EXCEPTIONS = [
    exception("X1", "carrier_exception", "ups", "NY", "WH-1", t(22, 20)),
    exception("X1", "carrier_exception", "ups", "NY", "WH-1", t(22, 20), t(23, 8)),
    exception("X2", "failed_attempt", "fedex", "NJ", "WH-1", t(21, 18)),  # open
    exception("X3", "late_shipment", "", "CA", "WH-1", t(22, 11, 40)),  # open, not shipped
    exception("X4", "stalled", "ups", "NJ", "WH-2", t(22, 20)),
    exception("X4", "stalled", "ups", "NJ", "WH-2", t(22, 20), t(22, 20), state="withdrawn"),
    exception("X5", "late_delivery", "ups", "NY", "WH-1", t(24, 23, 59), t(25, 9)),
]

_versions: dict[str, int] = {}


def movement(sku, location, at, on_hand_delta, reserved_delta, reason, on_hand, reserved):
    _versions[sku] = _versions.get(sku, 0) + 1
    return {
        "movement_id": f"mv-{sku}-{_versions[sku]}",
        "event_id": f"ev-{sku}-{_versions[sku]}",
        "sku": sku,
        "location_id": location,
        "on_hand_delta": on_hand_delta,
        "reserved_delta": reserved_delta,
        "reason": reason,
        "order_id": "",
        "occurred_at": at,
        "on_hand": on_hand,
        "reserved": reserved,
        "version": _versions[sku],
    }


MOVEMENTS = [
    movement("SKU-X", "WH-1", t(17, 8), 10, 0, "received PO-1", 10, 0),
    movement("SKU-X", "WH-1", t(17, 12), -4, 0, "shipped", 6, 0),  # before the 7 days
    movement("SKU-X", "WH-1", t(21, 9), 0, 4, "reserved", 6, 4),
    movement("SKU-X", "WH-1", t(21, 12), -2, -2, "shipped", 4, 2),
    movement("SKU-X", "WH-1", t(22, 12), -1, 0, "shipped", 3, 2),
    movement("SKU-X", "WH-1", t(23, 8), 2, 0, "received PO-2", 5, 2),
    movement("SKU-X", "WH-2", t(20, 8), 4, 0, "received PO-1", 4, 0),
    movement("SKU-X", "WH-2", t(22, 8), 0, 4, "reserved", 4, 4),
    movement("SKU-X", "STORE-1", t(19, 8), 1, 0, "received PO-3", 1, 0),
    movement("SKU-X", "STORE-1", t(20, 8), -1, 0, "transfer out", 0, 0),
    movement("SKU-Y", "WH-1", t(21, 8), 2, 0, "received PO-1", 2, 0),
    movement("SKU-Y", "WH-1", t(25, 8), -2, 0, "shipped", 0, 0),
    movement("SKU-Y", "WH-2", t(20, 8), 17, 0, "received PO-1", 17, 0),
    movement("SKU-Y", "WH-2", t(22, 8), -7, 0, "shipped", 10, 0),
    movement("SKU-Y", "WH-2", t(23, 8), 0, 1, "reserved", 10, 1),
    movement("SKU-Z", "WH-3", t(24, 8), 2, 0, "received PO-4", 2, 0),  # WH-3: no location row
    movement("SKU-Z", "WH-3", t(24, 9), 0, 3, "reserved", 2, 3),  # oversold
]


def location(location_id: str, ships: bool) -> dict:
    return {
        "event_id": f"loc-{location_id}",
        "occurred_at": t(1, 0),
        "source": None,
        "location_id": location_id,
        "name": location_id,
        "kind": "warehouse" if ships else "store",
        "latitude": 40.0,
        "longitude": -74.0,
        "country": "US",
        "postal_code": "07094",
        "ships_orders": ships,
    }


def raw_event_rows(record: dict, offset: int) -> list[tuple[str, dict]]:
    return event_rows("LocationUpserted", record, "oms.accepted-events", 0, offset, b"k")


# The pipeline's event-time clock: the latest accepted input event, Nov 25 12:00.
CLOCK = location("WH-1", True) | {"event_id": "clock", "occurred_at": t(25, 12)}


def world() -> list[tuple[str, dict]]:
    """Every row of the world, in the order the sink could receive them."""
    rows: list[tuple[str, dict]] = []
    for record in ORDERS:
        rows += order_update_rows(record)
    rows += [allocation_row(r) for r in ALLOCATIONS]
    rows += [shipment_row(r) for r in SHIPMENTS]
    rows += [delivery_exception_row(r) for r in EXCEPTIONS]
    for record in MOVEMENTS:
        rows += movement_rows(record)
    for n, record in enumerate(
        [location("WH-1", True), location("WH-2", True), location("STORE-1", False), CLOCK]
    ):
        rows += raw_event_rows(record, n)
    return rows


def grouped(rows: list[tuple[str, dict]]) -> dict[str, list[dict]]:
    batch: dict[str, list[dict]] = {}
    for table, row in rows:
        batch.setdefault(table, []).append(row)
    return batch


def write(client, rows: list[tuple[str, dict]], token: str) -> dict[str, list[dict]]:
    """A sink batch: insert table by table (with a deduplication token), then refresh."""
    batch = grouped(rows)
    for table, table_rows in batch.items():
        columns = list(table_rows[0])
        client.insert(
            table,
            [[row[c] for c in columns] for row in table_rows],
            column_names=columns,
            settings={"insert_deduplication_token": f"{table}:{token}"},
        )
    rollups.refresh(client, batch)
    return batch


@pytest.fixture
def clickhouse(tmp_path):
    client = open_client(f"chdb://{tmp_path / 'clickhouse'}")
    try:
        migrate(client)
        yield client
    finally:
        client.close()


@pytest.fixture
def loaded(clickhouse):
    write(clickhouse, world(), "all")
    return clickhouse


def rows_of(client, sql: str) -> list[tuple]:
    return [tuple(_plain(v) for v in row) for row in client.query(sql).result_rows]


def _plain(value):
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, Decimal):
        return float(value)
    return value


KPI_VIEWS = sorted(
    re.findall(
        r"^CREATE VIEW IF NOT EXISTS (kpi_\w+)", (MIGRATIONS_DIR / "005_kpis.sql").read_text(), re.M
    )
)
ROLLUP_TABLES = [rollup.table for rollup in rollups.ROLLUPS]


def snapshot(client) -> dict[str, list[tuple]]:
    """Every kpi_* view and every rollup's current rows (wall-clock ages left out)."""
    found = {}
    for view in KPI_VIEWS:
        columns = "* EXCEPT (age_s)" if view == "kpi_open_exceptions" else "*"
        found[view] = sorted(rows_of(client, f"SELECT {columns} FROM {view}"), key=repr)
    for table in ROLLUP_TABLES:
        columns = "*"
        if table == "rollup_order_durations_daily":
            columns = "* EXCEPT (seconds), finalizeAggregation(seconds)"
        found[table] = sorted(rows_of(client, f"SELECT {columns} FROM {table}_current"), key=repr)
    return found


# --- the views -----------------------------------------------------------------------------
def test_every_kpi_view_is_checked_here_and_documented():
    assert KPI_VIEWS == [
        "kpi_backorder_rate",
        "kpi_carrier_on_time_delivery",
        "kpi_exception_rate",
        "kpi_exception_rate_by_kind",
        "kpi_funnel",
        "kpi_on_time_shipment",
        "kpi_open_exceptions",
        "kpi_order_to_ship",
        "kpi_stage_dwell",
        "kpi_stock_position",
        "kpi_stockout_rate",
        "kpi_throughput_hourly",
    ]
    readme = (MIGRATIONS_DIR.parents[2] / "dashboards" / "README.md").read_text()
    for view in KPI_VIEWS:
        assert f"### `{view}`" in readme, view


def test_order_to_ship_and_release_to_ship(loaded):
    # day 1, WH-1: A 3 h, B 26.5 h, E 3 h -> median 3 h; p90 at rank 1.8: 3 h + 0.8 x 23.5 h.
    # From the release: A 2 h, B 25.5 h, E 2 h. Day 2: F, first shipped from WH-2, 7 h / 6 h.
    assert rows_of(
        loaded, "SELECT * FROM kpi_order_to_ship ORDER BY day, channel, location_id"
    ) == [
        (D1, "web", "WH-1", 3, 3 * HOUR, 3 * HOUR + 0.8 * 23.5 * HOUR, 2 * HOUR, 74880.0),
        (D2, "web", "WH-2", 1, 7 * HOUR, 7 * HOUR, 6 * HOUR, 6 * HOUR),
    ]
    assert 2 * HOUR + 0.8 * 23.5 * HOUR == 74880


def test_stage_dwell(loaded):
    assert rows_of(
        loaded, "SELECT * FROM kpi_stage_dwell ORDER BY day, channel, location_id, stage"
    ) == [
        (D1, "app", "", "on_hold", 1, HOUR, HOUR),  # D
        (D1, "web", "", "on_hold", 1, 1800, 1800),  # C, cancelled during its hold
        # A, B, E picked 1 h, 2 h, 1 h after release: p90 at rank 1.8 = 1 h + 0.8 x 1 h
        (D1, "web", "WH-1", "allocated_to_picked", 3, HOUR, 6480),
        (D1, "web", "WH-1", "on_hold", 3, HOUR, HOUR),
        # packed 30 min, 23 h, 40 min before shipping: 40 min + 0.8 x (23 h - 40 min)
        (D1, "web", "WH-1", "packed_to_shipped", 3, 2400, 2400 + 0.8 * (82800 - 2400)),
        (D1, "web", "WH-1", "picked_to_packed", 3, 1800, 1800),  # 30, 30, 20 min
        (D1, "web", "WH-1", "shipped_to_delivered", 1, 48 * HOUR, 48 * HOUR),  # A
        # F: no pick, no pack scan: only its hold
        (D2, "web", "WH-2", "on_hold", 1, HOUR, HOUR),
    ]


def test_on_time_shipment(loaded):
    # A and E shipped before their ship-by time, B the day after it; D waits for stock.
    assert rows_of(
        loaded, "SELECT * FROM kpi_on_time_shipment ORDER BY day, channel, location_id"
    ) == [
        (D1, "app", "", 0, 0, None, 1),
        (D1, "web", "WH-1", 3, 2, round(2 / 3, 6), 0),
        (D2, "web", "WH-2", 1, 1, 1.0, 0),
    ]


def test_carrier_on_time_delivery(loaded):
    assert rows_of(
        loaded, "SELECT * FROM kpi_carrier_on_time_delivery ORDER BY day, carrier, service"
    ) == [
        (D1, "fedex", "home", 1, 0, 0, 0, None),  # E: not delivered yet
        (D1, "ups", "ground", 1, 1, 1, 1, 1.0),  # A: the 23rd, promised the 24th
        # B late (25th), F1 without a promise, F2 on the promised day
        (D2, "ups", "ground", 3, 3, 2, 1, 0.5),
    ]


def test_exception_rates_leave_withdrawn_out(loaded):
    assert rows_of(
        loaded,
        "SELECT * FROM kpi_exception_rate ORDER BY day, carrier, region, origin_location_id",
    ) == [
        (D1, "fedex", "NJ", "WH-1", 1, 1, 100.0),  # E's failed attempt
        (D1, "ups", "NJ", "WH-1", 1, 0, 0.0),
        (D2, "", "CA", "WH-1", 0, 1, None),  # D's late shipment: no carrier yet
        (D2, "ups", "NJ", "WH-1", 1, 0, 0.0),
        (D2, "ups", "NJ", "WH-2", 1, 0, 0.0),  # its stalled exception was withdrawn
        (D2, "ups", "NY", "WH-1", 1, 1, 100.0),
        (date(2026, 11, 24), "ups", "NY", "WH-1", 0, 1, None),  # late delivery, opened 23:59
    ]
    assert rows_of(
        loaded, "SELECT * FROM kpi_exception_rate_by_kind ORDER BY day, carrier, kind"
    ) == [
        (D1, "fedex", "failed_attempt", "NJ", "WH-1", 1, 1, 100.0),
        (D2, "", "late_shipment", "CA", "WH-1", 1, 0, None),
        (D2, "ups", "carrier_exception", "NY", "WH-1", 1, 1, 100.0),
        (date(2026, 11, 24), "ups", "late_delivery", "NY", "WH-1", 1, 0, None),
    ]


def test_open_exceptions_and_their_age(loaded):
    rows = loaded.query(
        "SELECT exception_id, kind, carrier, event_age_s, age_s,"
        " dateDiff('second', opened_at, now64(3)) FROM kpi_open_exceptions ORDER BY exception_id"
    ).result_rows
    # against the pipeline clock (Nov 25 12:00): 3 days 18 h, and 3 days 20 min
    assert [row[:4] for row in rows] == [
        ("X2", "failed_attempt", "fedex", (3 * 24 + 18) * HOUR),
        ("X3", "late_shipment", "", (3 * 24) * HOUR + 20 * 60),
    ]
    assert all(abs(age - expected) <= 5 for *_, age, expected in rows)


def test_backorder_rate(loaded):
    assert rows_of(loaded, "SELECT * FROM kpi_backorder_rate ORDER BY day, channel, sku") == [
        (D1, "app", "SKU-Y", 1, 1, 1.0),  # D waits
        (D1, "web", "SKU-X", 3, 1, round(1 / 3, 6)),  # B's line was backordered, then filled
        (D1, "web", "SKU-Y", 1, 0, 0.0),
        (D2, "web", "SKU-X", 1, 0, 0.0),
        (D2, "web", "SKU-Y", 1, 0, 0.0),
    ]


def test_stockout_rate_counts_shipping_locations_only(loaded):
    assert rows_of(loaded, "SELECT * FROM kpi_stockout_rate ORDER BY location_id") == [
        ("WH-1", 2, 1, 0.5),  # SKU-Y sold out
        ("WH-2", 2, 1, 0.5),  # SKU-X all reserved
        ("WH-3", 1, 1, 1.0),  # unknown location: counted; oversold
    ]


def test_stock_position_and_days_of_cover(loaded):
    # the 7 days up to Nov 25: SKU-X at WH-1 shipped 2 + 1 (the 4 of the 17th are older)
    assert rows_of(
        loaded,
        "SELECT sku, location_id, on_hand, reserved, available, shipped_units_7d,"
        " avg_daily_shipped_7d, days_of_cover, as_of FROM kpi_stock_position"
        " ORDER BY sku, location_id",
    ) == [
        ("SKU-X", "STORE-1", 0, 0, 0, 0, 0.0, None, date(2026, 11, 25)),
        ("SKU-X", "WH-1", 5, 2, 3, 3, round(3 / 7, 6), 7.0, date(2026, 11, 25)),
        ("SKU-X", "WH-2", 4, 4, 0, 0, 0.0, None, date(2026, 11, 25)),
        ("SKU-Y", "WH-1", 0, 0, 0, 2, round(2 / 7, 6), 0.0, date(2026, 11, 25)),
        ("SKU-Y", "WH-2", 10, 1, 9, 7, 1.0, 9.0, date(2026, 11, 25)),
        ("SKU-Z", "WH-3", 2, 3, -1, 0, 0.0, None, date(2026, 11, 25)),
    ]
    reasons = rows_of(
        loaded,
        "SELECT day, reason, movements, on_hand_delta FROM rollup_movements_daily_current"
        " WHERE sku = 'SKU-X' AND location_id = 'WH-1' ORDER BY day, reason",
    )
    assert reasons[:2] == [
        (date(2026, 11, 17), "received", 1, 10),  # "received PO-1"
        (date(2026, 11, 17), "shipped", 1, -4),
    ]


def test_funnel_and_throughput(loaded):
    assert rows_of(loaded, "SELECT * FROM kpi_funnel ORDER BY channel, status") == [
        ("app", "backordered", 1),
        ("web", "cancelled", 1),
        ("web", "delivered", 1),
        ("web", "shipped", 3),
    ]
    hour = lambda d, h: datetime(2026, 11, d, h)  # noqa: E731
    assert rows_of(
        loaded, "SELECT * FROM kpi_throughput_hourly ORDER BY hour, channel, status"
    ) == [
        (hour(21, 9), "web", "on_hold", 2),  # A, B placed
        (hour(21, 10), "app", "on_hold", 1),  # D
        (hour(21, 10), "web", "allocated", 2),  # A, B released
        (hour(21, 10), "web", "cancelled", 1),  # C
        (hour(21, 10), "web", "on_hold", 1),  # C
        (hour(21, 11), "app", "backordered", 1),  # D
        (hour(21, 11), "web", "on_hold", 1),  # E
        (hour(21, 11), "web", "packed", 1),  # A
        (hour(21, 11), "web", "picked", 1),  # A
        (hour(21, 12), "web", "allocated", 1),  # E
        (hour(21, 12), "web", "picked", 1),  # B
        (hour(21, 12), "web", "shipped", 1),  # A
        (hour(21, 13), "web", "packed", 2),  # B, E
        (hour(21, 13), "web", "picked", 1),  # E
        (hour(21, 14), "web", "shipped", 1),  # E
        (hour(22, 9), "web", "on_hold", 1),  # F
        (hour(22, 10), "web", "allocated", 1),  # F
        (hour(22, 12), "web", "shipped", 1),  # B
        (hour(22, 16), "web", "shipped", 1),  # F (its second parcel at 17:00 changes nothing)
        (hour(23, 12), "web", "delivered", 1),  # A
    ]


# --- exactly right whatever the sink does ----------------------------------------------------
def test_recomputing_again_or_writing_rows_again_changes_nothing(loaded):
    expected = snapshot(loaded)
    assert expected["kpi_funnel"] and expected["kpi_order_to_ship"]
    everything = grouped(world())
    rollups.refresh(loaded, everything)  # the same buckets again
    assert snapshot(loaded) == expected
    write(loaded, world()[::-1], "reversed")  # every row again, in a batch formed otherwise
    write(loaded, world()[5:40], "part")
    assert snapshot(loaded) == expected
    rollups.backfill(loaded, everything=True)  # every bucket from scratch
    assert snapshot(loaded) == expected
    assert rollups.backfill(loaded) == {}  # no bucket is missing


def test_batches_in_any_order_and_any_size_converge_to_the_from_scratch_answer(
    clickhouse, tmp_path
):
    """The world in shuffled batches of random size, a refresh after each (a status moves
    through many funnel rows; allocations may come before their orders); then the rollups are
    emptied and rebuilt from scratch: the same answers."""
    rows = world()
    random.Random(7).shuffle(rows)
    start = 0
    rng = random.Random(8)
    while start < len(rows):
        size = rng.randint(1, 12)
        write(clickhouse, rows[start : start + size], f"b{start}")
        start += size
    incremental = snapshot(clickhouse)
    for table in ROLLUP_TABLES:
        clickhouse.command(f"TRUNCATE TABLE {table}")
    rollups.backfill(clickhouse)
    assert snapshot(clickhouse) == incremental
    assert incremental["kpi_funnel"] == [
        ("app", "backordered", 1),
        ("web", "cancelled", 1),
        ("web", "delivered", 1),
        ("web", "shipped", 3),
    ]


def test_a_status_change_leaves_its_old_funnel_row(clickhouse):
    first, *rest = [r for r in ORDERS if r["order_id"] == "A"]
    write(clickhouse, order_update_rows(first), "a1")
    assert rows_of(clickhouse, "SELECT * FROM kpi_funnel") == [("web", "on_hold", 1)]
    write(clickhouse, order_update_rows(rest[-1]), "a6")
    assert rows_of(clickhouse, "SELECT * FROM kpi_funnel") == [("web", "delivered", 1)]
    write(clickhouse, order_update_rows(rest[0]), "a2")  # an old version, late: no change
    assert rows_of(clickhouse, "SELECT * FROM kpi_funnel") == [("web", "delivered", 1)]


def test_allocations_before_their_order_are_counted_when_the_order_arrives(clickhouse):
    lines = [allocation_row(r) for r in ALLOCATIONS if r["order_id"] == "D"]
    write(clickhouse, lines, "d-lines")
    assert rows_of(clickhouse, "SELECT * FROM kpi_backorder_rate") == []
    d_orders = [r for r in ORDERS if r["order_id"] == "D"]
    write(clickhouse, [row for r in d_orders for row in order_update_rows(r)], "d-order")
    assert rows_of(clickhouse, "SELECT * FROM kpi_backorder_rate") == [
        (D1, "app", "SKU-Y", 1, 1, 1.0)
    ]
    # a later allocation change alone names the order's day through the orders table
    more = dict(allocation("D", "1", "SKU-Y", "WH-1", "reserved", 3))
    batch = write(clickhouse, [allocation_row(more)], "d-more")
    [lines_rollup] = [r for r in rollups.ROLLUPS if r.table == "rollup_order_lines_daily"]
    assert lines_rollup.touched(batch, clickhouse) == {D1}


def test_a_batch_names_the_buckets_of_its_rows():
    batch = grouped(world())
    touched = {
        rollup.table: rollup.touched(batch, None)
        for rollup in rollups.ROLLUPS
        if rollup.table != "rollup_order_lines_daily"
    }
    assert touched["rollup_orders_daily"] == {D1, D2}
    assert touched["rollup_shipments_daily"] == {D1, D2}
    assert touched["rollup_exceptions_daily"] == {D1, D2, date(2026, 11, 24)}
    assert datetime(2026, 11, 23, 12) in touched["rollup_order_flow_hourly"]
    # placed at 9:00, 9:30, 10:15, 10:40, 11:00 on the 21st and 9:00 on the 22nd
    assert len(touched["rollup_orders_hourly"]) == 4
