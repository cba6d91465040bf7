"""The ClickHouse analytics dashboards (fulfillment, inventory) and their provisioning.

Every panel query of every provisioned dashboard that uses the grafana-clickhouse-datasource
plugin runs here against the embedded ClickHouse engine (chDB): the tables they read, made by
the real migrations' DDL (not the kpi_* rollups and views: the dashboards read the base tables
with FINAL), loaded with a seeded simulation of fourteen days of derived rows (orders,
allocations, shipments, exceptions, stock levels, movements and signals, with stale versions
and duplicates that only FINAL removes). Grafana's part is played by `render`: the plugin's
macros and the dashboard's template variables are replaced with concrete values the way
Grafana and the plugin do, and an unknown `$__` macro or `${...}` variable fails the test.
Each query must return rows of the shape its panel needs (a time series: a DateTime first
column and numeric values; a stat: one numeric value; a table: the columns its organize
transformation declares), with every variable on All and with one value each.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.clickhouse.client import open_client
from connectors.clickhouse.migrations import migrate, migration_files, statements

from .support import COMPOSE, DASHBOARD, DEV_EXTRAS, ROOT

yaml = pytest.importorskip("yaml", reason=f"PyYAML {DEV_EXTRAS}")

PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_REF = {"type": PLUGIN, "uid": "${datasource}"}
PROVISIONING = ROOT / "dashboards" / "grafana" / "provisioning"
CLICKHOUSE_DATASOURCE = PROVISIONING / "datasources" / "clickhouse.yml"
DATASOURCE_UID = "oms-clickhouse"
EXPECTED = {"fulfillment.json", "inventory.json"}  # at least these are analytics dashboards
# The one value a multi-value variable takes in the "one value" run of every query.
ONE_VALUE = {"channel": "web", "carrier": "ups", "location": "WH-NJ"}
TEXT_VALUE = {"sku": "sku-00"}
PANEL_TYPES = {"row", "stat", "timeseries", "table", "bargauge", "barchart", "text"}


# --- the dashboards --------------------------------------------------------------------------


def dashboard_folder() -> Path:
    """The folder the dashboard provider (provisioning/dashboards) loads, via compose."""
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "oms.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    grafana = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]
    for volume in grafana["volumes"]:
        source, target = volume.split(":")[:2]
        if target == path:
            return (ROOT / source).resolve()
    raise AssertionError(f"no volume mounts the dashboard path {path}")


def uses_clickhouse(dashboard: dict) -> bool:
    return any(
        v["type"] == "datasource" and v["query"] == PLUGIN for v in dashboard["templating"]["list"]
    )


def analytics_dashboards() -> dict[str, dict]:
    dashboards = {p.name: json.loads(p.read_text()) for p in dashboard_folder().rglob("*.json")}
    return {name: d for name, d in sorted(dashboards.items()) if uses_clickhouse(d)}


def all_panels(dashboard: dict) -> list[dict]:
    """Every panel, rows and the panels inside collapsed rows included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def query_panels(dashboard: dict) -> list[dict]:
    return [p for p in all_panels(dashboard) if p["type"] not in ("row", "text")]


def variables(dashboard: dict) -> dict[str, dict]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


DASHBOARDS = analytics_dashboards()
TARGETS = [
    pytest.param(
        name, panel["id"], target["refId"], id=f"{name[:-5]}-{panel['id']}-{target['refId']}"
    )
    for name, dashboard in DASHBOARDS.items()
    for panel in query_panels(dashboard)
    for target in panel["targets"]
]
VARIABLE_QUERIES = [
    pytest.param(name, v["name"], id=f"{name[:-5]}-{v['name']}")
    for name, dashboard in DASHBOARDS.items()
    for v in dashboard["templating"]["list"]
    if v["type"] == "query"
]


def find_panel(name: str, panel_id: int) -> dict:
    return next(p for p in all_panels(DASHBOARDS[name]) if p["id"] == panel_id)


# --- Grafana's part: macros and variables ----------------------------------------------------


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    interval_s: int


def _macro_args(sql: str, open_at: int) -> tuple[list[str], int]:
    """The comma-separated arguments of the call whose "(" is at open_at, and the index after
    its ")"; commas inside nested parentheses or quotes belong to the argument."""
    depth, quote, args, start = 0, None, [], open_at + 1
    for i in range(open_at, len(sql)):
        ch = sql[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i].strip())
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(sql[start:i].strip())
            start = i + 1
    raise AssertionError(f"unbalanced macro call at {sql[open_at - 20 : open_at + 20]!r}")


def _conditional_all(sql: str, selection: dict[str, list[str] | None]) -> str:
    """The plugin's $__conditionalAll(condition, $variable): 1=1 when All is selected, the
    condition otherwise (the frontend expands it before the variables)."""
    marker = "$__conditionalAll("
    while (at := sql.find(marker)) != -1:
        args, end = _macro_args(sql, at + len(marker) - 1)
        assert len(args) == 2, f"$__conditionalAll takes 2 arguments: {args}"
        name = re.fullmatch(r"\$\{?(\w+)\}?", args[1])
        assert name, f"$__conditionalAll's second argument must be a variable: {args[1]!r}"
        assert name.group(1) in selection, f"unknown variable {args[1]} in $__conditionalAll"
        condition = "1=1" if selection[name.group(1)] is None else args[0]
        sql = sql[:at] + condition + sql[end:]
    return sql


def _format(values: list[str], fmt: str) -> str:
    def quoted(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    if fmt in ("singlequote", "sqlstring"):
        return ",".join(quoted(v) for v in values)
    if fmt in ("raw", "csv"):
        return ",".join(values)
    raise AssertionError(f"variable format {fmt!r} is not one this test knows")


def _variables(sql: str, values: dict[str, list[str]]) -> str:
    """Grafana's template variables: ${name}, ${name:format}, $name and [[name]]."""

    def replace(match: re.Match) -> str:
        name = match.group("braced") or match.group("bare") or match.group("bracket")
        if name.startswith("__"):
            return match.group(0)  # a macro, for the plugin's backend
        assert name in values, f"unknown variable {match.group(0)}"
        fmt = match.group("fmt") or "default"
        if fmt == "default":  # the plugin's own format: a list is quoted, one value is not
            chosen = values[name]
            return _format(chosen, "singlequote") if len(chosen) > 1 else chosen[0]
        return _format(values[name], fmt)

    pattern = r"\$\{(?P<braced>\w+)(?::(?P<fmt>\w+))?\}|\$(?P<bare>\w+)|\[\[(?P<bracket>\w+)\]\]"
    return re.sub(pattern, replace, sql)


def _seconds(at: datetime) -> str:
    return f"toDateTime({int(at.timestamp())})"


def _millis(at: datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(at.timestamp() * 1000)})"


def _macros(sql: str, time: TimeRange) -> str:
    """The plugin backend's macros (pkg/macros/macros.go), with the same expansions."""
    no_args = {
        "fromTime": _seconds(time.start),
        "toTime": _seconds(time.end),
        "fromTime_ms": _millis(time.start),
        "toTime_ms": _millis(time.end),
        "interval_s": str(max(time.interval_s, 1)),
    }
    one_arg = {
        "timeFilter": lambda c: f"{c} >= {_seconds(time.start)} AND {c} <= {_seconds(time.end)}",
        "timeFilter_ms": lambda c: f"{c} >= {_millis(time.start)} AND {c} <= {_millis(time.end)}",
        "dateFilter": lambda c: (
            f"{c} >= toDate('{time.start:%Y-%m-%d}') AND {c} <= toDate('{time.end:%Y-%m-%d}')"
        ),
        "timeInterval": lambda c: (
            f"toStartOfInterval(toDateTime({c}), INTERVAL {max(time.interval_s, 1)} second)"
        ),
    }
    out, pos = [], 0
    for match in re.finditer(r"\$__(\w+)", sql):
        if match.start() < pos:
            continue
        name = match.group(1)
        out.append(sql[pos : match.start()])
        if name in one_arg:
            assert sql[match.end() : match.end() + 1] == "(", f"$__{name} needs an argument"
            args, pos = _macro_args(sql, match.end())
            assert len(args) == 1 and args[0], f"$__{name} takes one argument: {args}"
            out.append(one_arg[name](args[0]))
        elif name in no_args:
            out.append(no_args[name])
            pos = match.end()
        else:
            raise AssertionError(f"unknown macro $__{name}")
    out.append(sql[pos:])
    return "".join(out)


def render(
    sql: str, selection: dict[str, list[str] | None], options: dict[str, list[str]], time: TimeRange
) -> str:
    """The SQL ClickHouse receives: $__conditionalAll, then the variables (All is every option
    of the variable, as Grafana sends it without an allValue), then the backend's macros."""
    sql = _conditional_all(sql, selection)
    values = {
        name: options[name] if chosen is None else chosen for name, chosen in selection.items()
    }
    sql = _macros(_variables(sql, values), time)
    leftover = re.findall(r"\$\{?\w+|\[\[\w+", sql)
    assert not leftover, f"not substituted: {leftover}"
    return sql


def test_render_knows_the_macros_and_fails_on_anything_else():
    time = TimeRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), 60)
    selection: dict[str, list[str] | None] = {"channel": None, "carrier": ["ups", "o'x"]}
    options = {"channel": ["pos", "web"], "carrier": ["ups"]}
    sql = (
        "SELECT $__timeInterval(at) FROM t WHERE $__timeFilter(at) AND x > $__fromTime"
        " AND $__conditionalAll(channel IN (${channel:singlequote}), $channel)"
        " AND $__conditionalAll(carrier IN (${carrier:singlequote}), $carrier)"
        " AND c IN ($channel) AND $__interval_s > 0"
    )
    assert render(sql, selection, options, time) == (
        "SELECT toStartOfInterval(toDateTime(at), INTERVAL 60 second) FROM t"
        " WHERE at >= toDateTime(1767225600) AND at <= toDateTime(1767312000)"
        " AND x > toDateTime(1767225600) AND 1=1 AND carrier IN ('ups','o''x')"
        " AND c IN ('pos','web') AND 60 > 0"
    )
    for bad in ("SELECT $__unknownMacro", "SELECT ${nope}", "SELECT $nope", "SELECT $__timeFilter"):
        with pytest.raises(AssertionError):
            render(bad, selection, options, time)


# --- the simulated rows ----------------------------------------------------------------------

LOCATIONS = (
    # id, kind, ships orders, region, postal code
    ("WH-NJ", "warehouse", True, "NJ", "08817"),
    ("WH-GA", "warehouse", True, "GA", "30253"),
    ("WH-IL", "warehouse", True, "IL", "60436"),
    ("WH-TX", "warehouse", True, "TX", "75134"),
    ("WH-CA", "warehouse", True, "CA", "91761"),
    ("ST-NYC", "store", True, "NY", "10019"),
    ("ST-BKN", "store", False, "NY", "11249"),
)
SHIPPING = [loc for loc, _, ships, _, _ in LOCATIONS if ships]
CHANNELS = ("web",) * 6 + ("marketplace",) * 3 + ("pos",)
SERVICES = {  # carrier -> (service, transit days)
    "ups": (("ground", 4), ("2nd_day_air", 2)),
    "fedex": (("home_delivery", 4), ("2day", 2)),
    "usps": (("ground_advantage", 5), ("priority_mail", 3)),
    "dhl": (("ecommerce_ground", 6),),
}
REGIONS = ("NY", "NJ", "CA", "TX", "IL", "FL", "WA", "GA", "MA")
SKUS = [f"SKU-{n:04d}" for n in range(1, 31)]
SHIPMENT_EXCEPTIONS = (
    "carrier_exception",
    "failed_attempt",
    "returned_to_sender",
    "stalled",
    "late_delivery",
    "lost",
)
HOLD, SHIP_BY_SLA, LOW_STOCK = timedelta(hours=1), timedelta(hours=24), 5


def _hours(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(hours=rng.uniform(low, high))


@dataclass
class Ledger:
    """Stock per SKU x location, the movements that change it and the signals they raise."""

    now: datetime
    levels: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # on hand, reserved
    versions: dict[str, int] = field(default_factory=dict)
    updated: dict[tuple[str, str], datetime] = field(default_factory=dict)
    pending: list[tuple] = field(default_factory=list)
    movements: list[dict] = field(default_factory=list)
    signals: list[dict] = field(default_factory=list)

    def plan(self, at, sku, loc, on_hand: int, reserved: int, reason: str, order_id="") -> None:
        if at <= self.now:
            self.pending.append(
                (at, len(self.pending), sku, loc, on_hand, reserved, reason, order_id)
            )

    def run(self) -> None:
        for at, n, sku, loc, on_hand, reserved, reason, order_id in sorted(self.pending):
            level = self.levels.setdefault((sku, loc), [0, 0])
            before = level[0] - level[1]
            level[0] += on_hand
            level[1] = max(level[1] + reserved, 0)
            self.versions[sku] = self.versions.get(sku, 0) + 1
            self.updated[(sku, loc)] = at
            event_id = f"ev-{n:06d}"
            self.movements.append(
                {
                    "movement_id": f"{event_id}:0",
                    "event_id": event_id,
                    "sku": sku,
                    "location_id": loc,
                    "on_hand_delta": on_hand,
                    "reserved_delta": reserved,
                    "reason": reason,
                    "order_id": order_id,
                    "occurred_at": at,
                }
            )
            after = level[0] - level[1]
            kind = (
                "oversold"
                if level[0] < level[1] and before >= 0
                else "stock_out"
                if after <= 0 < before
                else "low_stock"
                if after <= LOW_STOCK < before
                else None
            )
            if kind:
                self.signals.append(
                    {
                        "signal_id": f"sig-{event_id}",
                        "kind": kind,
                        "sku": sku,
                        "location_id": loc,
                        "available": after,
                        "reservations": [(order_id, "L1", loc, max(reserved, 0))]
                        if order_id
                        else [],
                        "occurred_at": at,
                    }
                )

    def level_rows(self) -> list[dict]:
        rows = []
        for (sku, loc), (on_hand, reserved) in sorted(self.levels.items()):
            row = {
                "sku": sku,
                "location_id": loc,
                "on_hand": on_hand,
                "reserved": reserved,
                "available": on_hand - reserved,
                "updated_at": self.updated[(sku, loc)],
                "version": self.versions[sku],
            }
            # a stale position (a lower version): only FINAL hides it
            stale = row | {"on_hand": on_hand + 500, "available": on_hand + 500 - reserved}
            rows += [row, stale | {"version": self.versions[sku] - 1}]
        return rows


def simulate(now: datetime, seed: int = 20261126, orders: int = 700) -> dict[str, list[dict]]:
    """Fourteen days of derived rows up to `now`, as the sink would have written them."""
    rng = random.Random(seed)
    start = now - timedelta(days=14)
    ledger = Ledger(now)
    rows: dict[str, list[dict]] = {
        t: []
        for t in ("locations", "orders", "order_allocations", "shipments", "delivery_exceptions")
    }
    for loc, kind, ships, _region, postal in LOCATIONS:
        rows["locations"].append(
            {
                "location_id": loc,
                "name": f"{loc} {kind}",
                "kind": kind,
                "latitude": 40.0,
                "longitude": -74.0,
                "country": "US",
                "postal_code": postal,
                "ships_orders": ships,
                "updated_at": start,
                "version": 1,
            }
        )
    stocked = {sku: rng.sample([*SHIPPING, "ST-BKN"], rng.randint(3, 5)) for sku in SKUS}
    for sku, locs in stocked.items():
        for loc in locs:  # opening stock, a few pairs nearly empty
            units = rng.choice((0, 2, 4)) if rng.random() < 0.15 else rng.randint(40, 110)
            ledger.plan(start - timedelta(days=1), sku, loc, units, 0, "received PO-OPEN")
        for day in range(14):  # receipts, damage and counts
            at = start + timedelta(days=day) + _hours(rng, 6, 18)
            loc = rng.choice(locs)
            if rng.random() < 0.35:
                ledger.plan(
                    at, sku, loc, rng.randint(10, 40), 0, f"received PO-{day:02d}{sku[-2:]}"
                )
            if rng.random() < 0.08:
                ledger.plan(at + timedelta(hours=1), sku, loc, -rng.randint(1, 6), 0, "damaged")
            if rng.random() < 0.05:
                ledger.plan(at + timedelta(hours=2), sku, loc, rng.randint(-3, 3), 0, "counted")
            if rng.random() < 0.05 and len(locs) > 1:
                to = rng.choice([x for x in locs if x != loc])
                ledger.plan(at + timedelta(hours=3), sku, loc, -5, 0, "transfer out")
                ledger.plan(at + timedelta(hours=9), sku, to, 5, 0, "transfer in")

    for n in range(orders):
        _order(rng, now, start, f"SO-{n:05d}", stocked, ledger, rows)
    ledger.run()
    rows["inventory_levels"] = ledger.level_rows()
    # a replayed batch writes some movements and signals again: only FINAL collapses them
    rows["inventory_movements"] = ledger.movements + ledger.movements[::9]
    rows["stock_signals"] = ledger.signals + ledger.signals[::4]
    return rows


def _order(rng, now, start, order_id, stocked, ledger, rows) -> None:
    placed = start + timedelta(seconds=rng.uniform(0, 14 * 86400))
    channel = rng.choice(CHANNELS)
    lines = []
    for i in range(rng.choice((1, 1, 2, 3))):
        sku = rng.choice(SKUS)
        shipping = [loc for loc in stocked[sku] if loc in SHIPPING]
        lines.append((f"L{i + 1}", sku, rng.randint(1, 3), rng.choice(shipping)))
    backordered = {line for line, *_ in lines if rng.random() < 0.08}
    stamps: dict[str, datetime | None] = dict.fromkeys(
        (
            "allocated_at",
            "picked_at",
            "packed_at",
            "shipped_at",
            "delivered_at",
            "cancelled_at",
            "ship_by_at",
        ),
        None,
    )
    events = [("on_hold", placed)]
    cancel_at = placed + _hours(rng, 0.1, 30) if rng.random() < 0.05 else None
    released = placed + HOLD
    filled = released + _hours(rng, 12, 90) if backordered else None
    timeline = [("allocated_at", released)]
    picked = (filled or released) + _hours(rng, 1, 10)  # a backorder waits for its stock
    packed = picked + _hours(rng, 0.2, 2)
    shipped = packed + _hours(rng, 0.3, 6 if rng.random() < 0.85 else 24)
    timeline += [("picked_at", picked), ("packed_at", packed), ("shipped_at", shipped)]
    for stamp, at in timeline:
        if at > now or (cancel_at and cancel_at <= at):
            break
        stamps[stamp] = at
        if stamp == "allocated_at":
            stamps["ship_by_at"] = at + SHIP_BY_SLA
            waiting = len(backordered)
            status = ("allocated", "partially_backordered", "backordered")[
                0 if not waiting else 2 if waiting == len(lines) else 1
            ]
            events.append((status, at))
        else:
            events.append((stamp.removesuffix("_at"), at))
    if cancel_at and cancel_at <= now and stamps["shipped_at"] is None:
        stamps["cancelled_at"] = cancel_at
        events.append(("cancelled", cancel_at))

    promised = (placed + timedelta(days=6)).date() if channel != "pos" else None
    region = rng.choice(REGIONS)
    shipments = []
    if stamps["shipped_at"]:
        origins = sorted({loc for line, _, _, loc in lines}, key=SHIPPING.index)
        deliveries = []
        for k, origin in enumerate(origins):
            ship_at = stamps["shipped_at"] + timedelta(minutes=40 * k)
            if ship_at > now:
                continue
            shipments.append(
                _shipment(rng, now, order_id, k, origin, ship_at, promised, region, rows)
            )
            deliveries.append(shipments[-1]["delivered_at"])
        if deliveries and all(deliveries) and len(shipments) == len(origins):
            stamps["delivered_at"] = max(deliveries)
            events.append(("delivered", stamps["delivered_at"]))
        elif any(s["status"] == "out_for_delivery" for s in shipments):
            events.append(("out_for_delivery", max(s["last_scan_at"] for s in shipments)))
    events.sort(key=lambda e: e[1])
    status, updated = events[-1]
    row = {
        "order_id": order_id,
        "channel": channel,
        "status": status,
        "placed_at": placed,
        "hold_until": placed + HOLD,
        **stamps,
        "cancel_reason": "customer_request" if stamps["cancelled_at"] else "",
        "promised_delivery_date": promised,
        "shipping_country": "US",
        "shipping_region": region,
        "shipping_city": "Somewhere",
        "shipping_method": "standard",
        "line_count": len(lines),
        "order_total": Decimal(rng.randint(1000, 40000)) / 100,
        "currency": "USD",
        "customer_key": f"c{rng.getrandbits(48):012x}",
        "updated_at": updated,
        "version": len(events),
    }
    # the row as first written (version 1, still on hold): only FINAL hides it
    first = row | dict.fromkeys(stamps) | {"status": "on_hold", "updated_at": placed, "version": 1}
    rows["orders"] += [row, first] if len(events) > 1 else [row]
    _late_shipment(order_id, stamps, shipments, now, rows)
    _allocate(order_id, lines, backordered, stamps, filled, shipments, ledger, rows, len(events))


def _shipment(rng, now, order_id, k, origin, ship_at, promised, region, rows) -> dict:
    carrier = rng.choice(("ups", "ups", "fedex", "fedex", "usps", "usps", "dhl"))
    service, days = rng.choice(SERVICES[carrier])
    arrives = ship_at + timedelta(days=days + (rng.random() < 0.15) * rng.randint(1, 3))
    arrives = arrives.replace(hour=rng.randint(9, 19))
    if arrives <= now:
        delivered, last_scan, status = arrives, arrives, "delivered"
    elif arrives - now < timedelta(hours=24):
        delivered, last_scan, status = None, now - timedelta(hours=1), "out_for_delivery"
    else:
        delivered, last_scan = None, max(ship_at, now - _hours(rng, 1, 20))
        status = rng.choice(("in_transit", "in_transit", "exception", "label_created"))
    shipment = {
        "shipment_id": f"{order_id}-S{k + 1}",
        "order_id": order_id,
        "location_id": origin,
        "carrier": carrier,
        "service": service,
        "tracking_number": f"1Z{rng.getrandbits(40):012X}",
        "status": status,
        "status_detail": "",
        "shipped_at": ship_at,
        "delivered_at": delivered,
        "promised_delivery_date": promised,
        "latest_estimated_delivery_date": promised,
        "last_scan_at": last_scan,
        "origin_country": "US",
        "origin_postal_code": "00000",
        "shipping_country": "US",
        "shipping_region": region,
        "updated_at": last_scan,
        "version": 3,
    }
    label = shipment | {
        "status": "label_created",
        "delivered_at": None,
        "last_scan_at": None,
        "updated_at": ship_at,
        "version": 0,
    }
    rows["shipments"] += [shipment, label]
    if rng.random() < 0.18 or status == "exception":
        kind = rng.choice(SHIPMENT_EXCEPTIONS)
        opened = ship_at + _hours(rng, 6, 60)
        if opened <= now:
            outcome = rng.random()
            resolved = opened + _hours(rng, 2, 40) if outcome < 0.6 else None
            state = "withdrawn" if outcome > 0.9 else "resolved" if resolved else "opened"
            if resolved and resolved > now:
                resolved, state = None, "opened"
            _exception(
                rows,
                shipment,
                kind,
                opened,
                opened if state == "withdrawn" else resolved,
                state,
                origin,
                region,
            )
    return shipment


def _exception(rows, shipment, kind, opened, resolved, state, origin, region) -> None:
    row = {
        "exception_id": f"{shipment['order_id']}-{kind}-{int(opened.timestamp())}",
        "kind": kind,
        "state": state,
        "severity": "critical" if kind in ("lost", "returned_to_sender") else "warning",
        "tracking_number": shipment["tracking_number"],
        "shipment_id": shipment["shipment_id"],
        "order_id": shipment["order_id"],
        "carrier": shipment["carrier"],
        "status_detail": "",
        "carrier_code": "",
        "detail": f"{kind} simulated",
        "region": region,
        "origin_location_id": origin,
        "opened_at": opened,
        "resolved_at": resolved,
        "updated_at": resolved or opened,
        "version": 2 if state != "opened" else 1,
    }
    # the opened version of a closed exception stays in the table until a merge
    opened_row = row | {"state": "opened", "resolved_at": None, "updated_at": opened, "version": 1}
    rows["delivery_exceptions"] += [row, opened_row] if state != "opened" else [row]


def _late_shipment(order_id, stamps, shipments, now, rows) -> None:
    ship_by, shipped = stamps["ship_by_at"], stamps["shipped_at"]
    if ship_by is None or ship_by > min(shipped or now, stamps["cancelled_at"] or now):
        return
    first = shipments[0] if shipments else {}
    placeholder = {"tracking_number": "", "shipment_id": "", "order_id": order_id, "carrier": ""}
    resolved = shipped or stamps["cancelled_at"]
    _exception(
        rows,
        first or placeholder,
        "late_shipment",
        ship_by,
        resolved,
        "resolved" if resolved else "opened",
        first.get("location_id", ""),
        first.get("shipping_region", ""),
    )


def _allocate(order_id, lines, backordered, stamps, filled, shipments, ledger, rows, version):
    released, cancelled = stamps["allocated_at"], stamps["cancelled_at"]
    if released is None:
        return  # cancelled or still on hold: never planned
    shipped_from = {s["location_id"]: s["shipped_at"] for s in shipments}
    for line, sku, quantity, loc in lines:
        reserve_at = released
        if line in backordered:
            fill_ok = filled <= ledger.now and not (cancelled and cancelled <= filled)
            state = "filled" if fill_ok else "released" if cancelled else "backordered"
            rows["order_allocations"].append(
                _allocation(
                    order_id,
                    line,
                    sku,
                    "",
                    quantity,
                    state,
                    filled if fill_ok else released,
                    version,
                )
            )
            if not fill_ok:
                continue
            reserve_at = filled
        ledger.plan(reserve_at, sku, loc, 0, quantity, "reserved", order_id)
        state = "reserved"
        if loc in shipped_from:
            ledger.plan(shipped_from[loc], sku, loc, -quantity, -quantity, "shipped", order_id)
            state = "shipped"
        elif cancelled:
            ledger.plan(cancelled, sku, loc, 0, -quantity, "released", order_id)
            state = "released"
        row = _allocation(order_id, line, sku, loc, quantity, state, reserve_at, version)
        rows["order_allocations"] += [row, row | {"state": "reserved", "version": 1}]


def _allocation(order_id, line, sku, loc, quantity, state, at, version) -> dict:
    return {
        "order_id": order_id,
        "line_id": line,
        "sku": sku,
        "location_id": loc,
        "quantity": quantity,
        "state": state,
        "updated_at": at,
        "version": version,
    }


# --- chDB loaded with the simulation ---------------------------------------------------------

TABLE = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_][\w.]*)(\s+FINAL\b)?", re.IGNORECASE)


@dataclass
class Loaded:
    client: object
    rows: dict[str, list[dict]]
    time: TimeRange

    def query(self, sql: str):
        return self.client.query(sql)


def table_ddl() -> dict[str, list[str]]:
    """The CREATE TABLE and ALTER TABLE statements of the migrations, per table, in order."""
    ddl: dict[str, list[str]] = {}
    for _, path in migration_files():
        for statement in statements(path.read_text()):
            code = " ".join(
                line for line in statement.splitlines() if not line.strip().startswith("--")
            )
            match = re.match(r"\s*(CREATE TABLE IF NOT EXISTS|ALTER TABLE)\s+(\w+)", code)
            if match and (match.group(1) == "ALTER TABLE" or match.group(2) not in ddl):
                ddl.setdefault(match.group(2), []).append(statement)
    return ddl


def referenced_tables() -> set[str]:
    """The base tables the analytics dashboards read."""
    sqls = [t["rawSql"] for d in DASHBOARDS.values() for p in query_panels(d) for t in p["targets"]]
    sqls += [
        v["query"]
        for d in DASHBOARDS.values()
        for v in d["templating"]["list"]
        if v["type"] == "query"
    ]
    return {t for sql in sqls for t, _ in TABLE.findall(sql)} & set(table_ddl())


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """chDB with every migration applied, loaded with the simulation."""
    # midnight: the simulation follows the hour of day, so every run draws the same history
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    client = open_client(f"chdb://{tmp_path_factory.mktemp('analytics') / 'clickhouse'}")
    try:
        migrate(client)
        tables = referenced_tables()
        rows = simulate(now)
        assert set(rows) <= tables, "the simulation fills only tables the dashboards read"
        for table, table_rows in rows.items():
            columns = list(table_rows[0])
            client.insert(
                table, [[r[c] for c in columns] for r in table_rows], column_names=columns
            )
        # 14 days on a ~1000 px panel: Grafana's interval would be 20 minutes
        yield Loaded(client, rows, TimeRange(now - timedelta(days=14), now, 1200))
    finally:
        client.close()


def variable_options(loaded: Loaded, dashboard: dict) -> dict[str, list[str]]:
    """What Grafana offers for each query variable: the first column of its query."""
    options = {}
    for name, variable in variables(dashboard).items():
        if variable["type"] == "query":
            sql = render(variable["query"], {}, {}, loaded.time)
            options[name] = [str(row[0]) for row in loaded.query(sql).result_rows]
        elif variable["type"] == "textbox":
            options[name] = [variable.get("query", "")]
    return options


def selections(dashboard: dict) -> dict[str, dict[str, list[str] | None]]:
    """ "all": every multi-value variable on All, text boxes empty; "one": one value each."""
    all_, one = {}, {}
    for name, variable in variables(dashboard).items():
        if variable["type"] == "query":
            all_[name], one[name] = None, [ONE_VALUE[name]]
        elif variable["type"] == "textbox":
            all_[name], one[name] = [variable.get("query", "")], [TEXT_VALUE[name]]
    return {"all": all_, "one": one}


# --- result shapes ---------------------------------------------------------------------------


def base_type(name: str) -> str:
    while (m := re.fullmatch(r"(?:Nullable|LowCardinality)\((.*)\)", name)) is not None:
        name = m.group(1)
    return name


def is_numeric(name: str) -> bool:
    return re.match(r"(U?Int|Float|Decimal)", base_type(name)) is not None


def is_time(name: str) -> bool:
    return re.match(r"DateTime(64)?\b", base_type(name)) is not None and "Nullable" not in name


def is_text(name: str) -> bool:
    return base_type(name) in ("String", "FixedString") or base_type(name).startswith("Enum")


def declared_columns(panel: dict) -> list[str] | None:
    """A table's columns, as its organize transformation lists them (indexByName)."""
    for transformation in panel.get("transformations", []):
        if transformation["id"] == "organize":
            index = transformation["options"]["indexByName"]
            return sorted(index, key=index.get)
    return None


def display_names(panel: dict, columns: list[str]) -> set[str]:
    renamed = {}
    for transformation in panel.get("transformations", []):
        if transformation["id"] == "organize":
            renamed = transformation["options"].get("renameByName", {})
    return {renamed.get(c) or c for c in columns}


def check_shape(panel: dict, target: dict, columns: list[str], types: list[str], rows) -> None:
    title = panel["title"]
    kind = panel["type"]
    if kind == "timeseries":
        assert target["format"] == 0 and target["queryType"] == "timeseries", title
        assert is_time(types[0]), f"{title}: the first column is {types[0]}, not a DateTime"
        assert any(is_numeric(t) for t in types[1:]), f"{title}: no numeric column"
        for column, kind_ in zip(columns[1:], types[1:], strict=True):
            assert is_numeric(kind_) or is_text(kind_), f"{title}: {column} is {kind_}"
        times = [row[0] for row in rows]
        assert times == sorted(times), f"{title}: rows are not in time order (long to wide)"
    else:
        assert target["format"] == 1 and target["queryType"] == "table", title
    if kind == "stat":
        assert len(rows) == 1 and len(columns) == 1, f"{title}: a stat shows one value"
        assert is_numeric(types[0]), f"{title}: {columns[0]} is {types[0]}"
        assert rows[0][0] is not None, f"{title}: the value is NULL"
    if kind in ("bargauge", "barchart"):
        assert is_text(types[0]), f"{title}: the first column (the bar names) is {types[0]}"
        assert all(is_numeric(t) for t in types[1:]) and len(types) > 1, f"{title}: {types}"
    if kind == "barchart":
        assert panel["options"]["xField"] == columns[0], title
    if kind == "table":
        declared = declared_columns(panel)
        assert declared, f"{title}: a table declares its columns (organize, indexByName)"
        assert columns == declared, f"{title}: {columns} != declared {declared}"
    names = display_names(panel, columns)
    for override in panel["fieldConfig"].get("overrides", []):
        if override["matcher"]["id"] == "byName":
            assert override["matcher"]["options"] in names, f"{title}: override of a column {names}"


# --- the tests -------------------------------------------------------------------------------


def test_the_analytics_dashboards_are_provisioned():
    assert set(DASHBOARDS) >= EXPECTED
    for name in EXPECTED:
        assert (DASHBOARD.parent / name).is_file()


@pytest.mark.parametrize(("name", "panel_id", "ref_id"), TARGETS)
def test_panel_query_runs_on_clickhouse(loaded, name, panel_id, ref_id):
    dashboard = DASHBOARDS[name]
    panel = find_panel(name, panel_id)
    target = next(t for t in panel["targets"] if t["refId"] == ref_id)
    options = variable_options(loaded, dashboard)
    for scenario, selection in selections(dashboard).items():
        sql = render(target["rawSql"], selection, options, loaded.time)
        try:
            result = loaded.query(sql)
        except Exception as error:  # the message names the panel and the SQL that failed
            raise AssertionError(f"{panel['title']} ({scenario}): {error}\n{sql}") from error
        rows = result.result_rows
        assert rows, f"{panel['title']} ({scenario}): no rows from the simulated data\n{sql}"
        types = [t.name for t in result.column_types]
        check_shape(panel, target, list(result.column_names), types, rows)


@pytest.mark.parametrize(("name", "variable"), VARIABLE_QUERIES)
def test_variable_query_offers_values(loaded, name, variable):
    options = variable_options(loaded, DASHBOARDS[name])[variable]
    assert options, f"{variable}: no values"
    assert ONE_VALUE[variable] in options
    assert all(options), f"{variable}: an empty value {options}"


def test_final_collapses_what_the_stale_rows_would_double(loaded):
    """The funnel counts each order once and the stock stat reads the latest positions: the
    loaded tables hold stale versions that a query without FINAL would count."""
    dashboard = DASHBOARDS["fulfillment.json"]
    funnel = next(p for p in query_panels(dashboard) if p["title"].startswith("Orders per status"))
    options = variable_options(loaded, dashboard)
    sql = render(funnel["targets"][0]["rawSql"], selections(dashboard)["all"], options, loaded.time)
    counted = dict(loaded.query(sql).result_rows)
    latest: dict[str, dict] = {}
    for row in loaded.rows["orders"]:  # the highest version of each order wins
        if row["version"] > latest.get(row["order_id"], {"version": -1})["version"]:
            latest[row["order_id"]] = row
    expected: dict[str, int] = {}
    for row in latest.values():
        if loaded.time.start <= row["placed_at"] <= loaded.time.end:
            expected[row["status"]] = expected.get(row["status"], 0) + 1
    assert counted == expected
    assert len(expected) >= 8, f"the simulation covers the statuses: {sorted(expected)}"

    inventory = DASHBOARDS["inventory.json"]
    available = next(p for p in query_panels(inventory) if p["title"] == "Units available")
    sql = render(
        available["targets"][0]["rawSql"],
        selections(inventory)["all"],
        variable_options(loaded, inventory),
        loaded.time,
    )
    [(units,)] = loaded.query(sql).result_rows
    positions = {}
    for row in loaded.rows["inventory_levels"]:
        key = (row["sku"], row["location_id"])
        if key not in positions or row["version"] > positions[key]["version"]:
            positions[key] = row
    assert units == sum(r["available"] for r in positions.values())


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_queries_read_base_tables_with_final(name):
    """Latest-state and log tables are ReplacingMergeTree: a read without FINAL counts stale
    versions and replayed rows. The kpi_* views are another change's; nothing depends on them."""
    tables = set(table_ddl())
    assert {"orders", "shipments", "inventory_levels", "delivery_exceptions"} <= tables
    sqls = [t["rawSql"] for p in query_panels(DASHBOARDS[name]) for t in p["targets"]]
    sqls += [v["query"] for v in DASHBOARDS[name]["templating"]["list"] if v["type"] == "query"]
    for sql in sqls:
        assert "kpi_" not in sql
        for table, final in TABLE.findall(sql):
            if table in tables:
                assert final, f"{table} read without FINAL in:\n{sql}"


def _datasource_refs(node) -> list:
    if isinstance(node, dict):
        found = [node["datasource"]] if "datasource" in node else []
        return found + [ref for value in node.values() for ref in _datasource_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _datasource_refs(item)]
    return []


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_datasource_is_the_template_variable(name):
    dashboard = DASHBOARDS[name]
    variable = variables(dashboard)["datasource"]
    assert variable["type"] == "datasource" and variable["query"] == PLUGIN
    for panel in query_panels(dashboard):
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE_REF, panel["title"]
            assert target["editorType"] == "sql" and target["rawSql"].strip(), panel["title"]
    refs = _datasource_refs(dashboard["panels"]) + _datasource_refs(dashboard["templating"])
    assert refs and all(ref == DATASOURCE_REF for ref in refs)
    text = json.dumps(dashboard)
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', text)) - {dashboard["uid"]}
    assert uids == {"${datasource}"}, "no hard-coded datasource uid"
    assert DATASOURCE_UID not in text


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_valid_grafana_dashboard(name):
    dashboard = DASHBOARDS[name]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    assert dashboard["title"].startswith("oms-stream / ")
    assert dashboard["time"]["from"] and dashboard["time"]["to"] == "now"
    assert dashboard["timezone"] == "utc"
    ids = [p["id"] for p in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    assert all(isinstance(i, int) and i > 0 for i in ids)
    for panel in all_panels(dashboard):
        assert panel["type"] in PANEL_TYPES, panel["type"]
        assert panel["title"], panel["id"]
        grid = panel["gridPos"]
        assert grid["w"] >= 1 and grid["h"] >= 1 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]
    used = {
        m
        for p in query_panels(dashboard)
        for t in p["targets"]
        for m in re.findall(r"\$\{?(\w+)", t["rawSql"])
        if not m.startswith("__")
    }
    assert used <= set(variables(dashboard)), "every variable a query uses is defined"


def test_dashboard_uids_and_titles_are_unique_in_the_folder():
    dashboards = [json.loads(p.read_text()) for p in dashboard_folder().rglob("*.json")]
    uids = [d["uid"] for d in dashboards]
    titles = [d["title"] for d in dashboards]
    assert len(uids) == len(set(uids)) and len(titles) == len(set(titles))


def test_clickhouse_datasource_provisioning_matches_the_compose_stack():
    [datasource] = yaml.safe_load(CLICKHOUSE_DATASOURCE.read_text())["datasources"]
    assert datasource["type"] == PLUGIN and datasource["uid"] == DATASOURCE_UID
    assert not datasource.get("isDefault"), "Prometheus stays the default datasource"
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    grafana_env = {k: str(v) for k, v in services["grafana"]["environment"].items()}
    clickhouse_env = {k: str(v) for k, v in services["clickhouse"]["environment"].items()}

    def resolved(value) -> str:
        def lookup(match: re.Match) -> str:
            name = match.group(1) or match.group(2)
            assert name in grafana_env, f"{name} is not set on the grafana service"
            return grafana_env[name]

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lookup, str(value))

    data = datasource["jsonData"]
    assert resolved(data["host"]) == "clickhouse" and "clickhouse" in services
    assert data["protocol"] == "http" and int(resolved(data["port"])) == 8123
    assert "8123:8123" in services["clickhouse"]["ports"]
    assert resolved(data["defaultDatabase"]) == clickhouse_env["CLICKHOUSE_DB"]
    assert resolved(data["username"]) == clickhouse_env["CLICKHOUSE_USER"]
    password = datasource["secureJsonData"]["password"]
    assert password.startswith("$"), "the password comes from the environment"
    assert resolved(password) == clickhouse_env["CLICKHOUSE_PASSWORD"]

    assert PLUGIN in grafana_env["GF_INSTALL_PLUGINS"].split(",")
    assert "clickhouse" in services["grafana"]["depends_on"]
    defaults = [
        d
        for path in sorted((PROVISIONING / "datasources").glob("*.yml"))
        for d in yaml.safe_load(path.read_text())["datasources"]
        if d.get("isDefault")
    ]
    assert [d["type"] for d in defaults] == ["prometheus"]


def test_simulation_covers_the_dimensions(loaded):
    rows = loaded.rows
    assert {r["channel"] for r in rows["orders"]} == set(CHANNELS)
    assert {r["carrier"] for r in rows["shipments"]} == set(SERVICES)
    assert {r["location_id"] for r in rows["shipments"]} == set(SHIPPING)
    assert {r["kind"] for r in rows["delivery_exceptions"]} == {
        *SHIPMENT_EXCEPTIONS,
        "late_shipment",
    }
    assert {r["state"] for r in rows["delivery_exceptions"]} == {"opened", "resolved", "withdrawn"}
    assert {r["kind"] for r in rows["stock_signals"]} == {"low_stock", "stock_out", "oversold"}
    assert {r["state"] for r in rows["order_allocations"]} >= {
        "reserved",
        "shipped",
        "released",
        "backordered",
        "filled",
    }
    days = {r["placed_at"].date() for r in rows["orders"]}
    assert len(days) >= 14 and isinstance(min(days), date)
