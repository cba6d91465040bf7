"""KPI rollups (migrations/005_kpis.sql) recomputed from the FINAL state tables.

The sink calls refresh() with a batch's rows after inserting them and before committing its
offsets. For each rollup it works out the buckets (days or hours) the rows can change and
recomputes exactly those buckets from the state tables read with FINAL, writing every row of
each bucket again under a new, larger generation; readers take the latest generation of each
bucket (the rollup_*_current views). So:

- A recompute of a bucket gives the from-scratch answer for it, whatever the state tables
  went through (duplicates, replays, batches formed differently): it reads their FINAL state.
- It is idempotent: recomputing the same buckets again writes the same rows.
- A crash anywhere (before the inserts, between inserts and refresh, during the refresh,
  before the commit) leaves the batch uncommitted: it is read again, its rows are written
  again and the buckets they name are recomputed again, after them. Until then a bucket
  shows its previous generation (or, after a crash part-way through an insert, a partial one).
- Two sinks refreshing one bucket at once: the recompute that started last read every insert
  finished before it started, and any insert finishing later is followed by its own, later
  recompute, so the latest generation is complete (generations are the recompute's start on
  ClickHouse's clock, made larger than any the bucket already has).

A batch's rows name every bucket it can change because each bucket comes from a column that
never changes once set (orders.placed_at, shipments.shipped_at, delivery_exceptions.opened_at,
occurred_at of events and movements), and a rollup never filters out the entities of its
buckets, so a bucket once written keeps rows. Allocation rows carry no placement time: their
orders' days are looked up in ClickHouse (after the inserts, so an order whose row is not in
yet is counted when its own row arrives and names its day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from clickhouse_connect.driver.client import Client

Rows = dict[str, list[dict]]  # table -> rows, as a sink batch holds them
Bucket = date | datetime  # a day, or an hour (naive UTC, minute 0)
Where = Callable[[str], str]  # source column -> the condition "its bucket is one of these"

_CHUNK = 500  # buckets (or order ids) per statement


@dataclass(frozen=True)
class Rollup:
    table: str
    grain: str  # "day" or "hour": also the name of the rollup's bucket column
    columns: tuple[str, ...]  # what select() returns, in order (generation excluded)
    select: Callable[[Where], str]  # the rollup's rows for the buckets the condition keeps
    source_buckets: str  # SELECT b: the bucket of every source row (for backfills)
    touched: Callable[[Rows, Client], set[Bucket]]  # the buckets a batch's rows can change

    def statement(self, buckets: Iterable[Bucket]) -> str:
        """INSERT ... SELECT of the buckets' rows under one new generation."""
        buckets = sorted(set(buckets))

        def where(column: str) -> str:
            return bucket_condition(column, self.grain, buckets)

        columns = ", ".join(self.columns)
        generation = (
            "greatest(toUInt64(toUnixTimestamp64Nano(now64(9))),"
            f" (SELECT max(generation) + 1 FROM {self.table} WHERE {self.grain} IN"
            f" ({_literals(self.grain, buckets)})))"
        )
        return (
            f"INSERT INTO {self.table} ({columns}, generation)"
            f" SELECT {columns}, {generation} FROM ({self.select(where)})"
        )

    def refresh(self, client: Client, buckets: Iterable[Bucket]) -> None:
        for chunk in _chunks(sorted(set(buckets)), _CHUNK):
            client.command(self.statement(chunk))


def refresh(client: Client, rows: Rows) -> dict[str, int]:
    """Recomputes the buckets the rows (already inserted) can change; returns how many per
    rollup table."""
    refreshed = {}
    for rollup in ROLLUPS:
        buckets = rollup.touched(rows, client)
        if buckets:
            rollup.refresh(client, buckets)
            refreshed[rollup.table] = len(buckets)
    return refreshed


def backfill(client: Client, everything: bool = False) -> dict[str, int]:
    """Recomputes the buckets the state tables hold and a rollup does not (all of them after
    migration 005 on a database with data); everything=True recomputes every bucket."""
    refreshed = {}
    for rollup in ROLLUPS:
        missing = (
            ""
            if everything
            else f" WHERE b NOT IN (SELECT DISTINCT {rollup.grain} FROM {rollup.table})"
        )
        result = client.query(f"SELECT DISTINCT b FROM ({rollup.source_buckets}){missing}")
        buckets = {_bucket(rollup.grain, row[0]) for row in result.result_rows}
        if buckets:
            rollup.refresh(client, buckets)
            refreshed[rollup.table] = len(buckets)
    return refreshed


# --- buckets -------------------------------------------------------------------------------
def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _bucket(grain: str, value: date | datetime) -> Bucket:
    if grain == "day":
        return _utc(value).date() if isinstance(value, datetime) else value
    return _utc(value).replace(minute=0, second=0, microsecond=0)


def _buckets(grain: str, rows: Iterable[dict], column: str) -> set[Bucket]:
    return {_bucket(grain, row[column]) for row in rows if row.get(column) is not None}


def _literals(grain: str, buckets: list[Bucket]) -> str:
    if grain == "day":
        return ", ".join(f"toDate('{b.isoformat()}')" for b in buckets)
    return ", ".join(f"toDateTime('{b:%Y-%m-%d %H:00:00}', 'UTC')" for b in buckets)


def bucket_condition(column: str, grain: str, buckets: list[Bucket]) -> str:
    """column's bucket is one of buckets; the range around them lets ClickHouse skip the
    partitions (months) of the source table that hold none."""
    step = timedelta(days=1) if grain == "day" else timedelta(hours=1)
    low, high = min(buckets), max(buckets) + step
    truncate = "toDate" if grain == "day" else "toStartOfHour"
    return (
        f"({column} >= toDateTime64('{low:%Y-%m-%d %H:%M:%S}', 3, 'UTC')"
        f" AND {column} < toDateTime64('{high:%Y-%m-%d %H:%M:%S}', 3, 'UTC')"
        f" AND {truncate}({column}) IN ({_literals(grain, buckets)}))"
    )


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _of(table: str, column: str, grain: str) -> Callable[[Rows, Client], set[Bucket]]:
    return lambda rows, _client: _buckets(grain, rows.get(table, ()), column)


def _order_days_of_allocations(rows: Rows, client: Client) -> set[Bucket]:
    """The placement days of the orders of the batch's allocation rows (and of its orders)."""
    days = _buckets("day", rows.get("orders", ()), "placed_at")
    ids = sorted({row["order_id"] for row in rows.get("order_allocations", ())})
    for chunk in _chunks(ids, _CHUNK):
        result = client.query(
            "SELECT DISTINCT toDate(placed_at) FROM orders WHERE order_id IN %(ids)s",
            parameters={"ids": chunk},
        )
        days.update(row[0] for row in result.result_rows)
    return days


# --- the rollups ---------------------------------------------------------------------------
def _first_shipment_location(where: Where) -> str:
    """order_id -> the location of the order's first ShipmentCreated, for the orders placed
    in the buckets. Its event and the order's shipped row come in one OrderUpdate message."""
    return f"""
        SELECT order_id, argMin(location_id, (occurred_at, location_id)) AS location_id
        FROM order_events FINAL
        WHERE type = 'ShipmentCreated'
            AND order_id IN (SELECT order_id FROM orders WHERE {where("placed_at")})
        GROUP BY order_id"""


def _orders_hourly(where: Where) -> str:
    return f"""
        SELECT toStartOfHour(placed_at) AS hour, channel, status, count() AS orders,
            sum(line_count) AS lines, sum(order_total) AS order_total
        FROM orders FINAL
        WHERE {where("placed_at")}
        GROUP BY hour, channel, status"""


def _orders_daily(where: Where) -> str:
    return f"""
        SELECT toDate(o.placed_at) AS day, o.channel AS channel, s.location_id AS location_id,
            count() AS orders,
            countIf(o.cancelled_at IS NOT NULL) AS cancelled,
            countIf(o.allocated_at IS NOT NULL AND o.shipped_at IS NULL
                AND o.cancelled_at IS NULL) AS awaiting_shipment,
            countIf(o.shipped_at IS NOT NULL) AS shipped,
            countIf(o.shipped_at IS NOT NULL AND o.ship_by_at IS NOT NULL
                AND o.shipped_at <= o.ship_by_at) AS shipped_on_time,
            countIf(o.delivered_at IS NOT NULL) AS delivered
        FROM (SELECT * FROM orders FINAL WHERE {where("placed_at")}) AS o
        LEFT JOIN ({_first_shipment_location(where)}) AS s USING (order_id)
        GROUP BY day, channel, location_id
        SETTINGS join_use_nulls = 0"""


# measure -> (start, end) on the orders table; both set and end >= start to count
DURATIONS = {
    "order_to_ship": ("placed_at", "shipped_at"),
    "release_to_ship": ("coalesce(allocated_at, hold_until)", "shipped_at"),
    "on_hold": ("placed_at", "coalesce(allocated_at, cancelled_at)"),
    "allocated_to_picked": ("allocated_at", "picked_at"),
    "picked_to_packed": ("picked_at", "packed_at"),
    "packed_to_shipped": ("packed_at", "shipped_at"),
    "shipped_to_delivered": ("shipped_at", "delivered_at"),
}


def _order_durations_daily(where: Where) -> str:
    spans = ", ".join(
        f"('{measure}', CAST({start}, 'Nullable(DateTime64(3, \\'UTC\\'))'),"
        f" CAST({end}, 'Nullable(DateTime64(3, \\'UTC\\'))'))"
        for measure, (start, end) in DURATIONS.items()
    )
    return f"""
        SELECT day, channel, location_id, measure, countIf(reached) AS orders,
            quantilesExactInclusiveStateIf(0.5, 0.9)(duration, reached) AS seconds
        FROM
        (
            SELECT toDate(o.placed_at) AS day, o.channel AS channel,
                s.location_id AS location_id, span.1 AS measure,
                span.2 IS NOT NULL AND span.3 IS NOT NULL AND span.3 >= span.2 AS reached,
                if(reached, dateDiff('millisecond', assumeNotNull(span.2),
                    assumeNotNull(span.3)) / 1000, 0) AS duration
            FROM (SELECT * FROM orders FINAL WHERE {where("placed_at")}) AS o
            LEFT JOIN ({_first_shipment_location(where)}) AS s USING (order_id)
            ARRAY JOIN [{spans}] AS span
            SETTINGS join_use_nulls = 0
        )
        GROUP BY day, channel, location_id, measure"""


def _order_flow_hourly(where: Where) -> str:
    return f"""
        SELECT toStartOfHour(occurred_at) AS hour, channel, status, count() AS events,
            countIf(status != previous_status) AS transitions
        FROM order_events FINAL
        WHERE {where("occurred_at")}
        GROUP BY hour, channel, status"""


def _shipments_daily(where: Where) -> str:
    return f"""
        SELECT toDate(shipped_at) AS day, carrier, service, shipping_region AS region,
            location_id AS origin_location_id, count() AS shipments,
            countIf(delivered_at IS NOT NULL) AS delivered,
            countIf(delivered_at IS NOT NULL AND promised_delivery_date IS NOT NULL)
                AS delivered_promised,
            countIf(delivered_at IS NOT NULL AND promised_delivery_date IS NOT NULL
                AND toDate(delivered_at) <= promised_delivery_date) AS delivered_on_time
        FROM shipments FINAL
        WHERE {where("shipped_at")}
        GROUP BY day, carrier, service, region, origin_location_id"""


def _exceptions_daily(where: Where) -> str:
    # rows written before migration 004 have no state: read it from resolved_at
    return f"""
        SELECT day, carrier, kind, region, origin_location_id, state_now AS state, exceptions
        FROM
        (
            SELECT toDate(opened_at) AS day, carrier, kind, region, origin_location_id,
                if(state != '', state, if(resolved_at IS NULL, 'opened', 'resolved'))
                    AS state_now,
                count() AS exceptions
            FROM delivery_exceptions FINAL
            WHERE {where("opened_at")}
            GROUP BY day, carrier, kind, region, origin_location_id, state_now
        )"""


def _order_lines_daily(where: Where) -> str:
    return f"""
        SELECT toDate(o.placed_at) AS day, o.channel AS channel, a.sku AS sku,
            count() AS lines, countIf(a.backordered) AS backordered_lines
        FROM
        (
            SELECT order_id, line_id, any(sku) AS sku, max(location_id = '') AS backordered
            FROM order_allocations FINAL
            WHERE order_id IN (SELECT order_id FROM orders WHERE {where("placed_at")})
            GROUP BY order_id, line_id
        ) AS a
        INNER JOIN
            (SELECT order_id, placed_at, channel FROM orders FINAL WHERE {where("placed_at")})
            AS o USING (order_id)
        GROUP BY day, channel, sku"""


def _movements_daily(where: Where) -> str:
    return f"""
        SELECT day, sku, location_id, kind AS reason, movements, on_hand AS on_hand_delta,
            reserved AS reserved_delta
        FROM
        (
            SELECT toDate(occurred_at) AS day, sku, location_id,
                if(startsWith(reason, 'received'), 'received', reason) AS kind,
                count() AS movements, sum(on_hand_delta) AS on_hand,
                sum(reserved_delta) AS reserved
            FROM inventory_movements FINAL
            WHERE {where("occurred_at")}
            GROUP BY day, sku, location_id, kind
        )"""


ROLLUPS = (
    Rollup(
        "rollup_orders_hourly",
        "hour",
        ("hour", "channel", "status", "orders", "lines", "order_total"),
        _orders_hourly,
        "SELECT toStartOfHour(placed_at) AS b FROM orders",
        _of("orders", "placed_at", "hour"),
    ),
    Rollup(
        "rollup_orders_daily",
        "day",
        (
            "day",
            "channel",
            "location_id",
            "orders",
            "cancelled",
            "awaiting_shipment",
            "shipped",
            "shipped_on_time",
            "delivered",
        ),
        _orders_daily,
        "SELECT toDate(placed_at) AS b FROM orders",
        _of("orders", "placed_at", "day"),
    ),
    Rollup(
        "rollup_order_durations_daily",
        "day",
        ("day", "channel", "location_id", "measure", "orders", "seconds"),
        _order_durations_daily,
        "SELECT toDate(placed_at) AS b FROM orders",
        _of("orders", "placed_at", "day"),
    ),
    Rollup(
        "rollup_order_flow_hourly",
        "hour",
        ("hour", "channel", "status", "events", "transitions"),
        _order_flow_hourly,
        "SELECT toStartOfHour(occurred_at) AS b FROM order_events",
        _of("order_events", "occurred_at", "hour"),
    ),
    Rollup(
        "rollup_shipments_daily",
        "day",
        (
            "day",
            "carrier",
            "service",
            "region",
            "origin_location_id",
            "shipments",
            "delivered",
            "delivered_promised",
            "delivered_on_time",
        ),
        _shipments_daily,
        "SELECT toDate(shipped_at) AS b FROM shipments",
        _of("shipments", "shipped_at", "day"),
    ),
    Rollup(
        "rollup_exceptions_daily",
        "day",
        ("day", "carrier", "kind", "region", "origin_location_id", "state", "exceptions"),
        _exceptions_daily,
        "SELECT toDate(opened_at) AS b FROM delivery_exceptions",
        _of("delivery_exceptions", "opened_at", "day"),
    ),
    Rollup(
        "rollup_order_lines_daily",
        "day",
        ("day", "channel", "sku", "lines", "backordered_lines"),
        _order_lines_daily,
        "SELECT toDate(placed_at) AS b FROM orders",
        _order_days_of_allocations,
    ),
    Rollup(
        "rollup_movements_daily",
        "day",
        ("day", "sku", "location_id", "reason", "movements", "on_hand_delta", "reserved_delta"),
        _movements_daily,
        "SELECT toDate(occurred_at) AS b FROM inventory_movements",
        _of("inventory_movements", "occurred_at", "day"),
    ),
)
