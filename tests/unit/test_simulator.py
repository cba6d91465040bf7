"""`oms simulate`: the seeded traffic generator, checked without Kafka.

The events must be what the pipeline accepts (schema, validation rules, keys), tell a
plausible story per order and parcel, and agree with the pipeline's own allocation: the
simulated events replayed through the order decisions and the real ledgers in memory
(tests/unit/order_world.py) reserve exactly where the simulated warehouses ship from.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from connectors.sources.replay import read_lines
from connectors.sources.simulation import (
    SimulationConfig,
    paced,
    parse_duration,
    parse_start,
    simulate,
    write_jsonl,
)
from schemas.canonical import parse_timestamp, to_record
from schemas.serde import AvroSerde
from streams.ingest.validation import problems
from streams.inventory.ledger import apply_inventory_event
from streams.orders import decisions
from streams.orders.allocation import Site
from streams.orders.order import RESERVED
from streams.topics import INPUT_TOPIC_BY_EVENT_TYPE
from tests.unit.order_world import RULES, World

HOLD = timedelta(hours=1)
CONFIG = SimulationConfig(seed=1, orders_per_minute=4, span=timedelta(hours=4), skus=120)
FULFILLMENT = ("OrderPicked", "OrderPacked", "ShipmentCreated")
INVENTORY = ("InventoryReceived", "InventoryAdjusted", "InventoryCounted", "InventoryTransferred")


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return list(simulate(CONFIG))


def at(event: dict) -> datetime:
    return parse_timestamp(event["occurred_at"])


def by_type(events: list[dict], *types: str) -> list[dict]:
    return [e for e in events if e["type"] in types]


# --- determinism ----------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_events_and_another_seed_others():
    config = SimulationConfig(seed=3, span=timedelta(minutes=40), skus=80)
    first = list(simulate(config))
    assert first == list(simulate(config))
    other = list(simulate(SimulationConfig(seed=4, span=timedelta(minutes=40), skus=80)))
    assert {e["event_id"] for e in first}.isdisjoint(e["event_id"] for e in other)


def test_event_ids_are_unique(events):
    assert len({e["event_id"] for e in events}) == len(events)


# --- what the pipeline accepts --------------------------------------------------------------
def test_every_event_validates_and_encodes(events):
    serde = AvroSerde()
    for event in events:
        event_type, record = to_record(event)
        topic = INPUT_TOPIC_BY_EVENT_TYPE[event_type]
        key = str(record[topic.key]).encode()
        assert problems(event_type, record, key, topic) == [], event
        assert serde.encode(event_type, record)


def test_event_details_are_canonical(events):
    for event in events:
        assert event["occurred_at"].endswith("Z") and len(event["occurred_at"]) == 24
    for order in by_type(events, "OrderPlaced"):
        assert order["currency"] == "USD"
        assert 1 <= len(order["lines"]) <= 5
        for line in order["lines"]:
            whole, cents = line["unit_price"].split(".")
            assert whole.isdigit() and len(cents) == 2
        address = order["shipping_address"]
        assert 24 < address["latitude"] < 50 and -125 < address["longitude"] < -66
    assert all(e["delta"] != 0 for e in by_type(events, "InventoryAdjusted"))


def test_the_world_is_varied(events):
    orders = by_type(events, "OrderPlaced")
    assert {o["channel"] for o in orders} == {"web", "marketplace", "pos"}
    assert {o["shipping_method"] for o in orders} == {"standard", "expedited", "overnight"}
    assert len({o["shipping_address"]["city"] for o in orders}) > 30
    locations = by_type(events, "LocationUpserted")
    assert {loc["kind"] for loc in locations} == {"warehouse", "store"}
    assert any(not loc["ships_orders"] for loc in locations)
    shipments = by_type(events, "ShipmentCreated")
    assert {s["carrier"] for s in shipments} == {"ups", "fedex", "usps", "dhl"}
    scans = by_type(events, "CarrierScan")
    statuses = Counter(s["status"] for s in scans)
    assert {"pre_transit", "in_transit", "out_for_delivery", "delivered"} <= set(statuses)
    assert {"exception", "failure", "return_to_sender"} <= set(statuses)
    assert statuses["delivered"] > 0.9 * len(shipments)
    details = {s.get("status_detail") for s in scans}
    assert {"arrived_at_facility", "departed_facility", "address_issue"} <= details
    assert details & {"delivery_attempted", "recipient_unavailable"}
    assert all(by_type(events, *INVENTORY[1:]))  # adjustments, counts, transfers happen


def test_sku_popularity_is_skewed(events):
    units = Counter()
    for order in by_type(events, "OrderPlaced"):
        for line in order["lines"]:
            units[line["sku"]] += line["quantity"]
    ranked = [n for _, n in units.most_common()]
    top = sum(ranked[: len(ranked) // 10])
    assert top > 0.4 * sum(ranked)  # the top tenth sells over 40 % of the units


# --- rates and order ------------------------------------------------------------------------
def test_orders_arrive_at_the_configured_rate(events):
    orders = by_type(events, "OrderPlaced")
    expected = CONFIG.orders_per_minute * CONFIG.span / timedelta(minutes=1)
    assert abs(len(orders) - expected) < 0.1 * expected
    start, end = CONFIG.start, CONFIG.start + CONFIG.span
    assert all(start <= at(o) < end for o in orders)


def test_a_number_of_orders_instead_of_a_span():
    config = SimulationConfig(seed=5, span=None, orders=25, skus=50, finish=False)
    events = list(simulate(config))
    orders = by_type(events, "OrderPlaced")
    assert len(orders) == 25
    assert max(at(e) for e in events) == at(orders[-1])  # not finished: cut after the last
    finished = list(simulate(SimulationConfig(seed=5, span=None, orders=25, skus=50)))
    assert len(by_type(finished, "OrderPlaced")) == 25
    assert len(by_type(finished, "ShipmentCreated")) >= 20


def test_events_come_in_event_time_order_but_for_late_scans(events):
    last = None
    late = 0
    for event in events:
        if last is not None and at(event) < last:
            assert event["type"] == "CarrierScan"
            late += 1
            continue
        last = at(event)
    assert 0.01 * len(events) < late < 0.1 * len(events)


def test_cut_at_the_span_without_finishing():
    config = SimulationConfig(seed=2, span=timedelta(hours=2), skus=50, finish=False)
    events = list(simulate(config))
    assert max(at(e) for e in events) < config.start + config.span


# --- each order's story ---------------------------------------------------------------------
def test_each_order_lives_a_valid_lifecycle(events):
    stories: dict[str, list[dict]] = defaultdict(list)
    parcels: dict[str, str] = {}
    for event in events:
        if "order_id" in event:
            stories[event["order_id"]].append(event)
        if event["type"] == "ShipmentCreated":
            parcels[event["tracking_number"]] = event["order_id"]
    scans: dict[str, list[dict]] = defaultdict(list)
    for scan in by_type(events, "CarrierScan"):
        scans[parcels[scan["tracking_number"]]].append(scan)
    cancelled = in_hold = 0
    for order_id, story in stories.items():
        placed, *rest = story
        assert placed["type"] == "OrderPlaced", order_id
        hold_end = at(placed) + HOLD
        kinds = [e["type"] for e in rest]
        if "OrderCancelled" in kinds:
            cancelled += 1
            cancel = rest[kinds.index("OrderCancelled")]
            in_hold += at(cancel) < hold_end
            after = rest[kinds.index("OrderCancelled") + 1 :]
            assert not after, f"{order_id}: {[e['type'] for e in after]} after cancel"
            assert "ShipmentCreated" not in kinds, f"{order_id}: cancelled after shipment"
        steps: dict[str, list[datetime]] = defaultdict(list)
        for event in rest:
            if event["type"] in FULFILLMENT:
                assert at(event) >= hold_end, f"{order_id}: {event['type']} during the hold"
                steps[event["location_id"]].append(at(event))
        for times in steps.values():
            assert times == sorted(times)  # picked <= packed <= shipped per location
        shipped = Counter()
        for shipment in by_type(rest, "ShipmentCreated"):
            for line in shipment["lines"]:
                shipped[line["line_id"]] += line["quantity"]
        if "OrderCancelled" not in kinds:  # finished: every unit shipped, once
            assert shipped == Counter({x["line_id"]: x["quantity"] for x in placed["lines"]})
        shipments = by_type(rest, "ShipmentCreated")
        if shipments:
            first_shipped = min(at(s) for s in shipments)
            last_shipped = max(at(s) for s in shipments)
            for scan in scans[order_id]:
                assert at(scan) > first_shipped
                if scan["status"] in ("out_for_delivery", "delivered"):
                    assert at(scan) > last_shipped  # nothing left to pick by then
    assert 0.03 * len(stories) < cancelled < 0.12 * len(stories)
    assert 0 < in_hold < cancelled


def test_scans_of_a_parcel_reach_delivery_in_event_time(events):
    shipped = {s["tracking_number"]: at(s) for s in by_type(events, "ShipmentCreated")}
    seen = set()
    by_parcel: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        if event["type"] == "ShipmentCreated":
            seen.add(event["tracking_number"])
        elif event["type"] == "CarrierScan":
            assert event["tracking_number"] in seen  # arrives after its shipment
            by_parcel[event["tracking_number"]].append(event)
    delivered = 0
    for tracking_number, parcel in by_parcel.items():
        ordered = sorted(parcel, key=at)
        assert ordered[0]["status"] == "pre_transit"
        assert at(ordered[0]) > shipped[tracking_number]
        delivered += ordered[-1]["status"] == "delivered"
    assert delivered > 0.9 * len(shipped)
    assert len(by_parcel) == len(shipped)


def test_some_estimates_slip_past_the_promise(events):
    promised = {
        o["order_id"]: o["promised_delivery_date"]
        for o in by_type(events, "OrderPlaced")
        if "promised_delivery_date" in o
    }
    order_of = {s["tracking_number"]: s["order_id"] for s in by_type(events, "ShipmentCreated")}
    late = sum(
        1
        for scan in by_type(events, "CarrierScan")
        if scan.get("estimated_delivery_date")
        and order_of[scan["tracking_number"]] in promised
        and scan["estimated_delivery_date"] > promised[order_of[scan["tracking_number"]]]
    )
    assert late > 0


# --- stock ----------------------------------------------------------------------------------
def test_no_location_ships_or_loses_more_than_it_has(events):
    on_hand: Counter = Counter()
    for event in events:
        kind = event["type"]
        if kind == "InventoryReceived":
            on_hand[(event["sku"], event["location_id"])] += event["quantity"]
        elif kind == "InventoryAdjusted":
            on_hand[(event["sku"], event["location_id"])] += event["delta"]
        elif kind == "InventoryCounted":
            on_hand[(event["sku"], event["location_id"])] = event["counted_on_hand"]
        elif kind == "InventoryTransferred":
            on_hand[(event["sku"], event["from_location_id"])] -= event["quantity"]
            on_hand[(event["sku"], event["to_location_id"])] += event["quantity"]
        elif kind == "ShipmentCreated":
            for line in event["lines"]:
                on_hand[(line["sku"], event["location_id"])] -= line["quantity"]
        else:
            continue
        assert min(on_hand.values()) >= 0, event


def test_the_pipeline_reserves_where_the_simulator_ships(events):
    """Replays the events through the order decisions and the real ledgers (no Kafka):
    every shipment takes units the pipeline reserved at that location, nothing is oversold
    and no fact is impossible for the order's state. Holds end on time, as the worker's
    clock ends them."""
    sites = [
        Site(e["location_id"], e["latitude"], e["longitude"], e["ships_orders"])
        for e in by_type(events, "LocationUpserted")
    ]
    world = World(sites, {})
    holds: list[tuple[datetime, str]] = []
    backordered = 0
    for event in events:
        event_type, record = to_record(event)
        now = record["occurred_at"]
        if event_type in ("CarrierScan", "LocationUpserted"):
            continue
        while holds and holds[0][0] <= now:
            due, order_id = heapq.heappop(holds)
            world.step_timer(order_id, "hold", due)
            world.run()
            order = world.orders[order_id]
            backordered += any(order.backordered(line_id) for line_id in order.lines)
        if event_type == "OrderPlaced":
            order, step = decisions.place(record, 0, RULES)
            world.orders[order.order_id] = order
            world._collect(step)
            heapq.heappush(holds, (now + RULES.fraud_hold, order.order_id))
        elif event_type == "OrderCancelled":
            world.cancel(record["order_id"], now, record["reason"])
        elif event_type in FULFILLMENT:
            order = world.orders[record["order_id"]]
            for line in record.get("lines", ()) if event_type == "ShipmentCreated" else ():
                held = order.count(line["line_id"], record["location_id"], RESERVED)
                assert held >= line["quantity"], (record["order_id"], line, record["location_id"])
            world.step(
                record["order_id"],
                now,
                lambda step, t=event_type, r=record: decisions.fulfil(step, t, r, world.network()),
            )
        else:
            stock = world.stock(record["sku"])
            change = apply_inventory_event(stock, event_type, record)
            world._after_change(stock, change, record["event_id"], now)
        world.run()
    assert not [s for s in world.signals if s.kind == "oversold"]
    assert backordered > 0  # the run exercised backorders filled by replenishment
    statuses = Counter(order.status.value for order in world.orders.values())
    assert set(statuses) == {"shipped", "cancelled"}


# --- files, options, pacing -----------------------------------------------------------------
def test_the_jsonl_file_round_trips_through_the_replay_reader(tmp_path, events):
    path = tmp_path / "sim.jsonl"
    counts = write_jsonl(events, path)
    assert counts == Counter(e["type"] for e in events)
    lines = list(read_lines(path))
    assert [json.loads(line.text) for line in lines] == events
    assert [line.number for line in lines] == list(range(1, len(events) + 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", (timedelta(hours=2), None)),
        ("1d12h", (timedelta(days=1, hours=12), None)),
        ("90m", (timedelta(minutes=90), None)),
        ("5000", (None, 5000)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2x", "h", "2h 3m", "-1h"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_start_times():
    assert parse_start("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_start("2026-12-01T08:30:00Z") == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def test_pacing_follows_event_time_times_the_speed():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    timed = [(0, {"n": 1}), (60_000, {"n": 2}), (60_000, {"n": 3}), (240_000, {"n": 4})]
    out = list(paced(timed, speed=60, clock=lambda: now[0], sleep=sleep))
    assert [e["n"] for e in out] == [1, 2, 3, 4]
    assert slept == [pytest.approx(1.0), pytest.approx(3.0)]
    slept.clear()  # counted from the start: what comes before it goes at once
    out = list(paced(timed, speed=60, origin_ms=120_000, clock=lambda: now[0], sleep=sleep))
    assert len(out) == 4 and slept == [pytest.approx(2.0)]
