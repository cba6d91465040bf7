"""The KPIs of the built-in dashboard (streams/dashboard.py), one ClickHouse query each, as
JSON-ready dicts. The definitions are those of shared/spec/analytics.md, read from the base
tables: latest-state tables with FINAL (the row with the highest version wins), log tables
with FINAL too (a row written twice counts once); delivery exceptions in state 'withdrawn'
are left out. Durations are seconds; times are RFC 3339 UTC strings; a rate with nothing to
count is None.

"Now" is the pipeline's event-time clock, the latest accepted input event (`as_of`), not the
wall clock: a replay or a simulation runs days ahead of (or behind) it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

# the order statuses of analytics.md, in the order an order goes through them
ORDER_STATUSES = (
    "on_hold",
    "allocated",
    "partially_backordered",
    "backordered",
    "picked",
    "packed",
    "shipped",
    "out_for_delivery",
    "delivered",
    "cancelled",
)
TOP_SKUS = 10
THROUGHPUT_HOURS = 72  # the latest hours of event time shown
COVER_WINDOW_DAYS = 7  # trailing sales rate of days of cover
QUERY_SETTINGS = {"max_execution_time": 20, "max_threads": 2}

AS_OF = "SELECT max(occurred_at) FROM raw_events"

FUNNEL = "SELECT status, count() FROM orders FINAL GROUP BY status"

THROUGHPUT = f"""
SELECT toUnixTimestamp(hour), sum(placed), sum(shipped), sum(delivered), sum(cancelled)
FROM
(
    SELECT
        arrayJoin([
            (toStartOfHour(placed_at), 1, 0, 0, 0),
            (toStartOfHour(ifNull(shipped_at, placed_at)), 0, shipped_at IS NOT NULL, 0, 0),
            (toStartOfHour(ifNull(delivered_at, placed_at)), 0, 0, delivered_at IS NOT NULL, 0),
            (toStartOfHour(ifNull(cancelled_at, placed_at)), 0, 0, 0, cancelled_at IS NOT NULL)
        ]) AS t,
        t.1 AS hour, t.2 AS placed, t.3 AS shipped, t.4 AS delivered, t.5 AS cancelled
    FROM orders FINAL
)
GROUP BY hour
HAVING sum(placed + shipped + delivered + cancelled) > 0
ORDER BY hour DESC
LIMIT {THROUGHPUT_HOURS}
"""

# release-to-ship counts from the hold's end (orders without a hold: from placement)
ORDER_TO_SHIP = """
SELECT
    if(grouping(channel) = 1, 'all', channel) AS segment,
    count() AS shipped,
    quantilesExactInclusive(0.5, 0.9)(
        dateDiff('millisecond', placed_at, shipped_at) / 1000) AS order_to_ship,
    quantilesExactInclusive(0.5, 0.9)(
        dateDiff('millisecond', greatest(ifNull(hold_until, placed_at), placed_at), shipped_at)
        / 1000) AS release_to_ship
FROM orders FINAL
WHERE shipped_at IS NOT NULL
GROUP BY ROLLUP(channel)
ORDER BY grouping(channel) DESC, segment
"""

# shipped at or before the ship-by time; overdue: not shipped, not cancelled, past it now
ON_TIME_SHIPMENT = f"""
WITH ({AS_OF}) AS as_of
SELECT
    if(grouping(channel) = 1, 'all', channel) AS segment,
    countIf(shipped_at IS NOT NULL) AS shipped,
    countIf(shipped_at <= ship_by_at) AS shipped_on_time,
    countIf(shipped_at IS NULL AND cancelled_at IS NULL AND ship_by_at < as_of) AS overdue
FROM orders FINAL
WHERE ship_by_at IS NOT NULL
GROUP BY ROLLUP(channel)
ORDER BY grouping(channel) DESC, segment
"""

# delivered on a date (UTC) on or before the promised delivery date
CARRIER_ON_TIME = """
SELECT
    carrier,
    service,
    count() AS shipments,
    countIf(delivered_at IS NOT NULL) AS delivered,
    countIf(delivered_at IS NOT NULL AND promised_delivery_date IS NOT NULL) AS promised,
    countIf(toDate(delivered_at, 'UTC') <= promised_delivery_date) AS on_time
FROM shipments FINAL
GROUP BY carrier, service
ORDER BY carrier, service
"""

EXCEPTIONS = """
SELECT kind, carrier, count() AS exceptions, countIf(resolved_at IS NULL) AS open,
    toUnixTimestamp64Milli(minIf(opened_at, resolved_at IS NULL)) AS oldest_open_ms
FROM delivery_exceptions FINAL
WHERE state != 'withdrawn'
GROUP BY kind, carrier
ORDER BY kind, carrier
"""

SHIPMENTS_BY_CARRIER = "SELECT carrier, count() FROM shipments FINAL GROUP BY carrier"

# a line is backordered when it has (or had) a row without a location
BACKORDERS = """
SELECT uniqExact(order_id, line_id), uniqExactIf(order_id, line_id, location_id = '')
FROM order_allocations FINAL
"""

# active pairs: every SKU x location of the ledger at a location that ships orders
STOCKOUTS = """
SELECT location_id, count() AS pairs, countIf(available <= 0) AS stocked_out
FROM inventory_levels FINAL
WHERE location_id NOT IN (SELECT location_id FROM locations FINAL WHERE NOT ships_orders)
GROUP BY location_id
ORDER BY location_id
"""

# the SKUs ordered most (units allocated to a location), then the most stocked; their stock
# over every location now, and the units shipped over the trailing window of event time
# (the whole history when it is shorter than the window, at least an hour)
STOCK = f"""
WITH
    (SELECT max(occurred_at) FROM inventory_movements) AS as_of,
    (SELECT min(occurred_at) FROM inventory_movements) AS first_at,
    greatest(least(dateDiff('second', first_at, as_of) / 86400, {COVER_WINDOW_DAYS}), 1 / 24)
        AS window_days
SELECT l.sku, l.on_hand, l.reserved, l.available, d.ordered, s.shipped, window_days
FROM
(
    SELECT sku, sum(on_hand) AS on_hand, sum(reserved) AS reserved, sum(available) AS available
    FROM inventory_levels FINAL
    GROUP BY sku
) AS l
LEFT JOIN
(
    SELECT sku, sum(quantity) AS ordered
    FROM order_allocations FINAL
    WHERE location_id != ''
    GROUP BY sku
) AS d ON d.sku = l.sku
LEFT JOIN
(
    SELECT sku, -sum(on_hand_delta) AS shipped
    FROM inventory_movements FINAL
    WHERE reason = 'shipped' AND occurred_at > as_of - toIntervalSecond(window_days * 86400)
    GROUP BY sku
) AS s ON s.sku = l.sku
ORDER BY d.ordered DESC, l.on_hand DESC, l.sku
LIMIT {TOP_SKUS}
SETTINGS join_use_nulls = 0
"""


def _rows(client: Client, sql: str) -> list[tuple]:
    return client.query(sql, settings=QUERY_SETTINGS).result_rows


def _rate(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _seconds(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 3)


def _from_ms(ms: int | None) -> datetime | None:
    """Epoch milliseconds from ClickHouse (0: an aggregate over no rows) as a UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def as_of(client: Client) -> datetime | None:
    """The pipeline's event-time clock: the latest accepted input event (None before any)."""
    (ms,) = _rows(client, f"SELECT toUnixTimestamp64Milli(({AS_OF}))")[0]
    return _from_ms(ms)


def funnel(client: Client) -> dict:
    """Orders per status now, in lifecycle order (statuses unknown here come last)."""
    counts = dict(_rows(client, FUNNEL))
    statuses = [s for s in ORDER_STATUSES if s in counts]
    statuses += sorted(s for s in counts if s not in ORDER_STATUSES)
    return {
        "statuses": statuses,
        "orders": [counts[s] for s in statuses],
        "total": sum(counts.values()),
    }


def throughput(client: Client) -> dict:
    """Orders placed, shipped, delivered and cancelled per hour of event time (the latest
    THROUGHPUT_HOURS hours that had any)."""
    rows = sorted(_rows(client, THROUGHPUT))
    return {
        "hours": [_time(_from_ms(hour * 1000)) for hour, *_ in rows],
        "placed": [r[1] for r in rows],
        "shipped": [r[2] for r in rows],
        "delivered": [r[3] for r in rows],
        "cancelled": [r[4] for r in rows],
    }


def order_to_ship(client: Client) -> dict:
    """Median and p90 of order-to-ship and release-to-ship (seconds) per channel and for all
    ('all' first)."""
    rows = _rows(client, ORDER_TO_SHIP)
    return {
        "channels": [r[0] for r in rows],
        "shipped": [r[1] for r in rows],
        "order_to_ship_p50_s": [_seconds(r[2][0]) for r in rows],
        "order_to_ship_p90_s": [_seconds(r[2][1]) for r in rows],
        "release_to_ship_p50_s": [_seconds(r[3][0]) for r in rows],
        "release_to_ship_p90_s": [_seconds(r[3][1]) for r in rows],
    }


def on_time_shipment(client: Client) -> dict:
    """Share of the shipped orders shipped by their ship-by time, per channel and for all."""
    rows = _rows(client, ON_TIME_SHIPMENT)
    return {
        "channels": [r[0] for r in rows],
        "shipped": [r[1] for r in rows],
        "shipped_on_time": [r[2] for r in rows],
        "on_time_rate": [_rate(r[2], r[1]) for r in rows],
        "overdue": [r[3] for r in rows],
    }


def carrier_on_time(client: Client) -> dict:
    """Share of the delivered shipments with a promise delivered by the promised date, per
    carrier (and per carrier and service in `services`)."""
    rows = _rows(client, CARRIER_ON_TIME)
    carriers: dict[str, list[int]] = {}
    for carrier, _, shipments, delivered, promised, on_time in rows:
        totals = carriers.setdefault(carrier, [0, 0, 0, 0])
        for i, n in enumerate((shipments, delivered, promised, on_time)):
            totals[i] += n
    return {
        "carriers": list(carriers),
        "shipments": [t[0] for t in carriers.values()],
        "delivered": [t[1] for t in carriers.values()],
        "on_time_rate": [_rate(t[3], t[2]) for t in carriers.values()],
        "services": [
            {
                "carrier": carrier,
                "service": service,
                "shipments": shipments,
                "delivered": delivered,
                "delivered_promised": promised,
                "delivered_on_time": on_time,
                "on_time_rate": _rate(on_time, promised),
            }
            for carrier, service, shipments, delivered, promised, on_time in rows
        ],
    }


def exceptions(client: Client, now: datetime | None) -> dict:
    """Delivery exceptions (withdrawn ones left out) per kind and carrier, the open ones,
    the age of the oldest open one in event time, and exceptions per 100 shipments per
    carrier."""
    rows = _rows(client, EXCEPTIONS)
    shipments = dict(_rows(client, SHIPMENTS_BY_CARRIER))
    kinds = sorted({r[0] for r in rows})
    carriers = sorted({r[1] for r in rows})
    counts = {(r[0], r[1]): r[2] for r in rows}
    per_carrier = {c: sum(r[2] for r in rows if r[1] == c) for c in carriers}
    oldest = _from_ms(min((r[4] for r in rows if r[3]), default=None))
    return {
        "kinds": kinds,
        "carriers": carriers,
        # counts[carrier][kind index]: one stacked bar per carrier
        "counts": {c: [counts.get((k, c), 0) for k in kinds] for c in carriers},
        "total": sum(r[2] for r in rows),
        "open": sum(r[3] for r in rows),
        "open_by_kind": {k: sum(r[3] for r in rows if r[0] == k) for k in kinds},
        "oldest_open_age_s": (_seconds((now - oldest).total_seconds()) if now and oldest else None),
        "per_100_shipments": {
            c: (100 * per_carrier[c] / shipments[c]) if shipments.get(c) else None for c in carriers
        },
    }


def backorders(client: Client) -> dict:
    """Share of the order lines through allocation that were ever backordered."""
    lines, backordered = _rows(client, BACKORDERS)[0]
    return {"lines": lines, "backordered_lines": backordered, "rate": _rate(backordered, lines)}


def stockouts(client: Client) -> dict:
    """Share of the active SKU x location pairs with nothing available, per location."""
    rows = _rows(client, STOCKOUTS)
    pairs = sum(r[1] for r in rows)
    out = sum(r[2] for r in rows)
    return {
        "locations": [r[0] for r in rows],
        "rates": [_rate(r[2], r[1]) for r in rows],
        "pairs": pairs,
        "stocked_out_pairs": out,
        "rate": _rate(out, pairs),
    }


def stock(client: Client) -> dict:
    """Stock now of the top SKUs over every location, and their days of cover: available /
    the average daily units shipped over the trailing window (None when none shipped)."""
    rows = _rows(client, STOCK)
    cover = []
    for _, _, _, available, _, shipped, window_days in rows:
        daily = shipped / window_days if shipped and window_days else 0
        cover.append(round(max(available, 0) / daily, 2) if daily > 0 else None)
    return {
        "skus": [r[0] for r in rows],
        "on_hand": [r[1] for r in rows],
        "reserved": [r[2] for r in rows],
        "available": [r[3] for r in rows],
        "ordered": [r[4] for r in rows],
        "shipped": [r[5] for r in rows],
        "days_of_cover": cover,
        "window_days": round(rows[0][6], 3) if rows else None,
    }


def dashboard_data(client: Client, clock: Callable[[], datetime] | None = None) -> dict:
    """Every KPI of the page, one dict: what GET /dashboard/data answers."""
    now = as_of(client)
    generated = (clock or (lambda: datetime.now(UTC)))()
    return _jsonable(
        {
            "as_of": _time(now),
            "generated_at": _time(generated),
            "funnel": funnel(client),
            "throughput": throughput(client),
            "order_to_ship": order_to_ship(client),
            "on_time_shipment": on_time_shipment(client),
            "carrier_on_time": carrier_on_time(client),
            "exceptions": exceptions(client, now),
            "backorders": backorders(client),
            "stockouts": stockouts(client),
            "stock": stock(client),
        }
    )


def _jsonable(value: Any) -> Any:
    """Plain JSON types: Decimal and floats that are not finite become numbers or None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
