"""connectors/clickhouse/dashboard_data.py: every KPI of the dashboard worked out by hand on a
few hand-made rows, in the embedded ClickHouse engine (chDB) after the real migrations.

Each latest-state table also gets an older version of some rows, and each log table a second
copy of a row (in another insert block, so ClickHouse keeps both until FINAL): the KPIs must
count the latest state once.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import clickhouse_connect
import pytest

from connectors.clickhouse import dashboard_data as kpi
from connectors.clickhouse.client import open_client
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.status import DashboardData

T = datetime(2026, 11, 2, 16, tzinfo=UTC)  # Monday, 11:00 in New York
H = timedelta(hours=1)
M = timedelta(minutes=1)
AS_OF = T + 30 * H  # the latest input event


def at(hours: float = 0, minutes: float = 0) -> datetime:
    return T + hours * H + minutes * M


def insert(client, table: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    client.insert(table, [[row.get(c) for c in columns] for row in rows], column_names=columns)


def order(order_id, channel, status, version, placed, **stages) -> dict:
    return {
        "order_id": order_id,
        "channel": channel,
        "status": status,
        "placed_at": placed,
        "hold_until": stages.get("hold_until"),
        "shipped_at": stages.get("shipped_at"),
        "delivered_at": stages.get("delivered_at"),
        "cancelled_at": stages.get("cancelled_at"),
        "ship_by_at": stages.get("ship_by_at"),
        "updated_at": placed,
        "version": version,
    }


ORDERS = [
    order(
        "O1", "web", "delivered", 5, at(),
        hold_until=at(1), shipped_at=at(3), ship_by_at=at(25), delivered_at=at(48),
    ),
    order(
        "O2", "web", "shipped", 4, at(0, 10),
        hold_until=at(1, 10), shipped_at=at(5, 10), ship_by_at=at(25, 10),
    ),
    # shipped two hours after its ship-by time
    order(
        "O3", "marketplace", "shipped", 4, at(0, 30),
        hold_until=at(1, 30), shipped_at=at(27, 30), ship_by_at=at(25, 30),
    ),
    order(
        "O4", "pos", "cancelled", 2, at(1),
        hold_until=at(2), cancelled_at=at(1, 5), ship_by_at=at(26),
    ),
    # not shipped, past its ship-by time at AS_OF: overdue
    order("O5", "web", "allocated", 2, at(2), hold_until=at(3), ship_by_at=at(27)),
    order("O6", "marketplace", "backordered", 2, at(2, 20), hold_until=at(3, 20)),
]  # fmt: skip
# earlier versions: FINAL must not see them
OLD_ORDERS = [
    order("O1", "web", "on_hold", 1, at(), hold_until=at(1)),
    order("O3", "marketplace", "packed", 3, at(0, 30), hold_until=at(1, 30)),
    order("O5", "web", "on_hold", 1, at(2), hold_until=at(3)),
]


def shipment(shipment_id, order_id, carrier, service, status, version, shipped, **more) -> dict:
    return {
        "shipment_id": shipment_id,
        "order_id": order_id,
        "carrier": carrier,
        "service": service,
        "status": status,
        "shipped_at": shipped,
        "delivered_at": more.get("delivered_at"),
        "promised_delivery_date": more.get("promised"),
        "updated_at": shipped,
        "version": version,
    }


SHIPMENTS = [
    # delivered on 4 Nov, promised for the 5th: on time
    shipment("S1", "O1", "ups", "ground", "delivered", 3, at(3),
             delivered_at=at(48), promised=date(2026, 11, 5)),
    shipment("S2", "O2", "ups", "ground", "in_transit", 2, at(5, 10)),
    # delivered on 5 Nov, promised for the 4th: late
    shipment("S3", "O3", "fedex", "express", "delivered", 3, at(27, 30),
             delivered_at=at(72), promised=date(2026, 11, 4)),
    # delivered, never promised: not in the rate
    shipment("S4", "O9", "fedex", "express", "delivered", 3, at(27, 30), delivered_at=at(60)),
]  # fmt: skip
OLD_SHIPMENTS = [shipment("S1", "O1", "ups", "ground", "in_transit", 1, at(3))]


def exception(exception_id, kind, carrier, state, version, opened, resolved=None) -> dict:
    return {
        "exception_id": exception_id,
        "kind": kind,
        "state": state,
        "carrier": carrier,
        "opened_at": opened,
        "resolved_at": resolved,
        "updated_at": resolved or opened,
        "version": version,
    }


EXCEPTIONS = [
    exception("E1", "carrier_exception", "ups", "resolved", 2, at(10), resolved=at(12)),
    exception("E2", "stalled", "ups", "opened", 1, at(20)),
    exception("E3", "late_delivery", "fedex", "opened", 1, at(26)),
    exception("E4", "lost", "fedex", "withdrawn", 2, at(25)),
]
OLD_EXCEPTIONS = [
    exception("E1", "carrier_exception", "ups", "opened", 1, at(10)),
    exception("E4", "lost", "fedex", "opened", 1, at(25)),
]


def allocation(order_id, line_id, sku, location_id, quantity, state, version) -> dict:
    return {
        "order_id": order_id,
        "line_id": line_id,
        "sku": sku,
        "location_id": location_id,
        "quantity": quantity,
        "state": state,
        "updated_at": T,
        "version": version,
    }


ALLOCATIONS = [
    allocation("O1", "L1", "SKU-A", "WH-NJ", 2, "shipped", 3),
    allocation("O2", "L1", "SKU-A", "WH-NJ", 1, "shipped", 3),
    # backordered first, then filled at WH-GA: ever backordered
    allocation("O2", "L2", "SKU-B", "", 0, "released", 2),
    allocation("O2", "L2", "SKU-B", "WH-GA", 1, "reserved", 2),
    allocation("O3", "L1", "SKU-C", "WH-IL", 1, "shipped", 3),
    allocation("O6", "L1", "SKU-B", "", 1, "backordered", 1),
]
OLD_ALLOCATIONS = [
    allocation("O1", "L1", "SKU-A", "WH-NJ", 2, "reserved", 1),
    allocation("O2", "L2", "SKU-B", "", 1, "backordered", 1),
]


def location(location_id: str, ships: bool) -> dict:
    return {"location_id": location_id, "ships_orders": ships, "updated_at": T, "version": 1}


LOCATIONS = [location("WH-NJ", True), location("WH-GA", True), location("ST-BKN", False)]


def level(sku, location_id, on_hand, reserved, version) -> dict:
    return {
        "sku": sku,
        "location_id": location_id,
        "on_hand": on_hand,
        "reserved": reserved,
        "available": on_hand - reserved,
        "updated_at": T,
        "version": version,
    }


LEVELS = [
    level("SKU-A", "WH-NJ", 10, 2, 9),
    level("SKU-A", "WH-GA", 0, 0, 2),  # stocked out
    level("SKU-B", "WH-GA", 5, 1, 3),
    level("SKU-C", "WH-NJ", 3, 0, 2),
    level("SKU-C", "ST-BKN", 0, 0, 1),  # a store that does not ship: no stockout pair
    level("SKU-D", "WH-NJ", 50, 0, 1),  # never ordered
]
OLD_LEVELS = [level("SKU-A", "WH-NJ", 20, 0, 1), level("SKU-A", "WH-GA", 4, 0, 1)]


def movement(movement_id, sku, location_id, delta, reason, occurred) -> dict:
    return {
        "movement_id": movement_id,
        "event_id": f"ev-{movement_id}",
        "sku": sku,
        "location_id": location_id,
        "on_hand_delta": delta,
        "reserved_delta": 0,
        "reason": reason,
        "occurred_at": occurred,
    }


MOVEMENTS = [
    movement("M0", "SKU-A", "WH-NJ", 20, "received PO-1", at(0, -15)),  # the first movement
    movement("M1", "SKU-A", "WH-NJ", -2, "shipped", at(3)),
    movement("M2", "SKU-A", "WH-NJ", -1, "shipped", at(5, 10)),
    movement("M3", "SKU-C", "WH-IL", -1, "shipped", at(27, 30)),
    movement("M4", "SKU-A", "WH-NJ", -7, "damaged", at(29)),  # the latest movement
]
# a copy of M1 in another block: FINAL counts it once
OLD_MOVEMENTS = [MOVEMENTS[1], movement("M5", "SKU-D", "WH-NJ", 50, "received PO-2", at(1))]

RAW_EVENTS = [
    {"event_id": "ev-1", "type": "OrderPlaced", "occurred_at": T},
    {"event_id": "ev-2", "type": "CarrierScan", "occurred_at": AS_OF},
]


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    return tmp_path_factory.mktemp("dashboard") / "clickhouse"


@pytest.fixture(scope="module")
def client(path):
    """One engine for the module (a process opens one chDB path at a time)."""
    client = open_client(f"chdb://{path}")
    try:
        migrate(client)
        for table, old, current in (
            ("orders", OLD_ORDERS, ORDERS),
            ("shipments", OLD_SHIPMENTS, SHIPMENTS),
            ("delivery_exceptions", OLD_EXCEPTIONS, EXCEPTIONS),
            ("order_allocations", OLD_ALLOCATIONS, ALLOCATIONS),
            ("inventory_levels", OLD_LEVELS, LEVELS),
            ("inventory_movements", OLD_MOVEMENTS, MOVEMENTS),
            ("locations", [], LOCATIONS),
            ("raw_events", [], RAW_EVENTS),
        ):
            if old:
                insert(client, table, old)
            insert(client, table, current)
        yield client
    finally:
        client.close()


def test_as_of_is_the_latest_input_event(client):
    assert kpi.as_of(client) == AS_OF


def test_funnel_counts_each_order_once_in_its_latest_status(client):
    assert kpi.funnel(client) == {
        "statuses": ["allocated", "backordered", "shipped", "delivered", "cancelled"],
        "orders": [1, 1, 2, 1, 1],
        "total": 6,
    }


def test_throughput_per_hour_of_event_time(client):
    data = kpi.throughput(client)
    hours = ["2026-11-02T16:00:00Z", "2026-11-02T17:00:00Z", "2026-11-02T18:00:00Z"]
    hours += ["2026-11-02T19:00:00Z", "2026-11-02T21:00:00Z", "2026-11-03T19:00:00Z"]
    hours += ["2026-11-04T16:00:00Z"]
    assert data == {
        "hours": hours,
        "placed": [3, 1, 2, 0, 0, 0, 0],
        "shipped": [0, 0, 0, 1, 1, 1, 0],
        "delivered": [0, 0, 0, 0, 0, 0, 1],
        "cancelled": [0, 1, 0, 0, 0, 0, 0],
    }


def test_order_to_ship_median_and_p90(client):
    data = kpi.order_to_ship(client)
    # web: 3h and 5h; marketplace: 27h; p90 of all three: 5h + 0.8 x (27h - 5h)
    assert data["channels"] == ["all", "marketplace", "web"]
    assert data["shipped"] == [3, 1, 2]
    assert data["order_to_ship_p50_s"] == [18_000, 97_200, 14_400]
    assert data["order_to_ship_p90_s"] == [81_360, 97_200, 17_280]
    # from the hold's end: 2h, 4h, 26h
    assert data["release_to_ship_p50_s"] == [14_400, 93_600, 10_800]
    assert data["release_to_ship_p90_s"] == [77_760, 93_600, 13_680]


def test_on_time_shipment_rate(client):
    assert kpi.on_time_shipment(client) == {
        "channels": ["all", "marketplace", "pos", "web"],
        "shipped": [3, 1, 0, 2],
        "shipped_on_time": [2, 0, 0, 2],
        "on_time_rate": [2 / 3, 0.0, None, 1.0],
        "overdue": [1, 0, 0, 1],  # O5; the cancelled O4 is not
    }


def test_carrier_on_time_delivery(client):
    data = kpi.carrier_on_time(client)
    assert data["carriers"] == ["fedex", "ups"]
    assert data["shipments"] == [2, 2]
    assert data["delivered"] == [2, 1]
    assert data["on_time_rate"] == [0.0, 1.0]
    assert data["services"][0] == {
        "carrier": "fedex",
        "service": "express",
        "shipments": 2,
        "delivered": 2,
        "delivered_promised": 1,
        "delivered_on_time": 0,
        "on_time_rate": 0.0,
    }


def test_exceptions_by_kind_and_carrier_without_withdrawn_ones(client):
    assert kpi.exceptions(client, AS_OF) == {
        "kinds": ["carrier_exception", "late_delivery", "stalled"],
        "carriers": ["fedex", "ups"],
        "counts": {"fedex": [0, 1, 0], "ups": [1, 0, 1]},
        "total": 3,
        "open": 2,
        "open_by_kind": {"carrier_exception": 0, "late_delivery": 1, "stalled": 1},
        "oldest_open_age_s": 10 * 3600.0,  # E2, opened at T+20h
        "per_100_shipments": {"fedex": 50.0, "ups": 100.0},
    }


def test_backorder_rate_counts_lines_ever_backordered(client):
    assert kpi.backorders(client) == {"lines": 5, "backordered_lines": 2, "rate": 0.4}


def test_stockout_rate_over_the_pairs_at_shipping_locations(client):
    assert kpi.stockouts(client) == {
        "locations": ["WH-GA", "WH-NJ"],
        "rates": [0.5, 0.0],
        "pairs": 5,
        "stocked_out_pairs": 1,
        "rate": 0.2,
    }


def test_stock_position_and_days_of_cover_of_the_top_skus(client):
    data = kpi.stock(client)
    # history shorter than a week: the rate is over the 29h15m since the first movement
    window = 29.25 / 24
    assert data["window_days"] == round(window, 3)
    assert data["skus"] == ["SKU-A", "SKU-B", "SKU-C", "SKU-D"]  # by units ordered, on hand
    assert data["on_hand"] == [10, 5, 3, 50]
    assert data["reserved"] == [2, 1, 0, 0]
    assert data["available"] == [8, 4, 3, 50]
    assert data["ordered"] == [3, 1, 1, 0]
    assert data["shipped"] == [3, 0, 1, 0]
    assert data["days_of_cover"] == [round(8 / (3 / window), 2), None, round(3 * window, 2), None]


def test_dashboard_data_is_json(client):
    data = kpi.dashboard_data(client, clock=lambda: datetime(2026, 11, 26, 12, tzinfo=UTC))
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["as_of"] == "2026-11-03T22:00:00Z"
    assert data["generated_at"] == "2026-11-26T12:00:00Z"
    assert data["exceptions"]["oldest_open_age_s"] == 36_000
    assert data["funnel"]["total"] == 6


def test_an_empty_pipeline_has_empty_kpis(client, path):
    client.command("CREATE DATABASE IF NOT EXISTS empty")
    empty = clickhouse_connect.get_client(dsn=f"chdb://{path}", database="empty")
    try:
        migrate(empty)
        data = kpi.dashboard_data(empty)
    finally:
        empty.close()
    assert data["as_of"] is None
    assert data["funnel"] == {"statuses": [], "orders": [], "total": 0}
    assert data["backorders"]["rate"] is None and data["stock"]["skus"] == []


def test_the_sinks_endpoint_reads_on_a_handle_of_its_own_and_caches(client, path):
    endpoint = DashboardData(lambda: open_client(f"chdb://{path}"), max_age=60)  # a 2nd handle
    try:
        first = asyncio.run(endpoint.handle(None))
        again = asyncio.run(endpoint.handle(None))
    finally:
        endpoint.close()
    assert first.status == 200 and first.headers["Cache-Control"] == "no-store"
    data = json.loads(first.text)
    assert again.text == first.text  # within max_age: the same answer, no new queries
    expected = kpi.dashboard_data(client)
    assert {k: v for k, v in data.items() if k != "generated_at"} == {
        k: v for k, v in expected.items() if k != "generated_at"
    }


def test_the_sinks_endpoint_answers_503_when_clickhouse_fails():
    endpoint = DashboardData(lambda: open_client("http://127.0.0.1:9/"), max_age=60)  # no one
    try:
        response = asyncio.run(endpoint.handle(None))
    finally:
        endpoint.close()
    assert response.status == 503 and "error" in json.loads(response.text)
