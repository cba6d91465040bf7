"""streams/inventory/ledger.py: the stock of one SKU as the sum of its ledger movements.

Records are dicts as the Avro decoder returns them (events.md fields plus event_id and an
aware UTC occurred_at); commands are StockCommand values. See events.md, "Stock semantics".
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.inventory.ledger import (
    LedgerError,
    Movement,
    Position,
    Reservation,
    SkuStock,
    StockCommand,
    apply_command,
    apply_inventory_event,
    fill_backorders,
)

SKU = "SKU-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INVENTORY_EVENTS = (
    "InventoryReceived",
    "InventoryAdjusted",
    "InventoryCounted",
    "InventoryTransferred",
)
LINES = (("ORD-1", "1"), ("ORD-1", "2"), ("ORD-2", "1"), ("ORD/3", "1"))


# --------------------------------------------------------------------------- builders


def event_id(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def at(n: int) -> datetime:
    return T0 + timedelta(seconds=n)


def envelope(n: int) -> dict:
    return {"event_id": event_id(n), "occurred_at": at(n), "source": "wms-east", "sku": SKU}


def received(n: int, location_id: str, quantity: int, reference: str = "PO-1") -> dict:
    return envelope(n) | {"location_id": location_id, "quantity": quantity, "reference": reference}


def adjusted(n: int, location_id: str, delta: int, reason: str = "damaged") -> dict:
    return envelope(n) | {"location_id": location_id, "delta": delta, "reason": reason}


def counted(n: int, location_id: str, counted_on_hand: int) -> dict:
    return envelope(n) | {"location_id": location_id, "counted_on_hand": counted_on_hand}


def transferred(n: int, from_location_id: str, to_location_id: str, quantity: int) -> dict:
    return envelope(n) | {
        "from_location_id": from_location_id,
        "to_location_id": to_location_id,
        "quantity": quantity,
    }


def command(
    n: int, action: str, location_id: str, quantity: int, order_id="ORD-1", line_id="1"
) -> StockCommand:
    return StockCommand(
        command_id=event_id(n),
        action=action,
        sku=SKU,
        reservation=Reservation(order_id, line_id, location_id),
        quantity=quantity,
        occurred_at=at(n),
    )


def snapshot(stock: SkuStock) -> dict:
    """A deep copy of as_dict(): as_dict() shares the live reservations dict."""
    return copy.deepcopy(stock.as_dict())


def stocked(**on_hand: int) -> SkuStock:
    stock = SkuStock(SKU)
    for n, (location_id, quantity) in enumerate(on_hand.items()):
        apply_inventory_event(stock, "InventoryReceived", received(1000 + n, location_id, quantity))
    return stock


# --------------------------------------------------------------------------- properties


@st.composite
def steps(draw, with_decreases: bool = True):
    """A random sequence mixing inventory events and stock commands over 2-3 locations."""
    locations = ["L1", "L2", "L3"][: draw(st.integers(2, 3))]
    location = st.sampled_from(locations)
    kinds = ["received", "reserve", "release"]
    if with_decreases:  # a consume may ship beyond its reservation: a decrease too
        kinds += ["consume", "adjusted", "counted", "transferred"]
    result = []
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(kinds))
        if kind == "received":
            result.append((kind, draw(location), draw(st.integers(1, 20))))
        elif kind == "adjusted":
            delta = draw(st.integers(-15, 15).filter(bool))
            reason = draw(st.sampled_from(["damaged", "shrinkage", "found", "correction"]))
            result.append((kind, draw(location), delta, reason))
        elif kind == "counted":
            result.append((kind, draw(location), draw(st.integers(0, 30))))
        elif kind == "transferred":
            source, target = draw(st.permutations(locations))[:2]
            result.append((kind, source, target, draw(st.integers(1, 20))))
        else:
            order_id, line_id = draw(st.sampled_from(LINES))
            result.append((kind, draw(location), draw(st.integers(1, 15)), order_id, line_id))
    roundtrips = draw(st.lists(st.booleans(), min_size=len(result), max_size=len(result)))
    return result, roundtrips


def record_for(n: int, step: tuple) -> tuple[str, dict]:
    kind = step[0]
    if kind == "received":
        return "InventoryReceived", received(n, step[1], step[2], reference=f"PO-{n}")
    if kind == "adjusted":
        return "InventoryAdjusted", adjusted(n, step[1], step[2], step[3])
    if kind == "counted":
        return "InventoryCounted", counted(n, step[1], step[2])
    return "InventoryTransferred", transferred(n, step[1], step[2], step[3])


def reserved_by_location(stock: SkuStock) -> Counter:
    held: Counter = Counter()
    for key, quantity in stock.reservations.items():
        assert quantity > 0, f"empty reservation kept: {key}"
        held[Reservation.from_key(key).location_id] += quantity
    return held


def check_invariants(stock: SkuStock, ledger: list[Movement]) -> None:
    # (a) the table equals the sum of the ledger
    on_hand: Counter = Counter()
    reserved: Counter = Counter()
    for m in ledger:
        on_hand[m.location_id] += m.on_hand_delta
        reserved[m.location_id] += m.reserved_delta
    for location_id in set(stock.positions) | set(on_hand) | set(reserved):
        assert stock.position(location_id) == Position(on_hand[location_id], reserved[location_id])
    # (b) reserved is never negative and is the sum of the open reservations there
    held = reserved_by_location(stock)
    for location_id in set(stock.positions) | set(held):
        assert stock.position(location_id).reserved >= 0
        assert stock.position(location_id).reserved == held[location_id]
    # (d) total is the sum over locations
    assert stock.total() == Position(
        sum(p.on_hand for p in stock.positions.values()),
        sum(p.reserved for p in stock.positions.values()),
    )
    # (e) as_dict / from_dict round-trip, through JSON too
    data = stock.as_dict()
    assert SkuStock.from_dict(data).as_dict() == data
    assert SkuStock.from_dict(json.loads(json.dumps(data))).as_dict() == data
    # (f) movement ids are unique across the whole sequence
    assert len({m.movement_id for m in ledger}) == len(ledger)


def run(sequence: list[tuple], roundtrips: list[bool]) -> tuple[SkuStock, list[Movement]]:
    stock = SkuStock(SKU)
    ledger: list[Movement] = []
    for n, (step, roundtrip) in enumerate(zip(sequence, roundtrips, strict=True)):
        if roundtrip:  # continue from the stored form, as after a restart
            stock = SkuStock.from_dict(json.loads(json.dumps(stock.as_dict())))
        before = snapshot(stock)
        version = stock.version
        kind = step[0]
        if kind in ("reserve", "release", "consume"):
            _, location_id, quantity, order_id, line_id = step
            cmd = command(n, kind, location_id, quantity, order_id, line_id)
            available = stock.position(location_id).available
            held = stock.reservations.get(cmd.reservation.key, 0)
            change, granted = apply_command(stock, cmd)
            after = stock.position(location_id).available
            if kind == "reserve":
                # (c) granted exactly when it fits, and never drives available below zero
                assert granted == (available >= quantity)
                if granted:
                    assert after == available - quantity >= 0
                else:
                    assert change.movements == []
                    assert snapshot(stock) == before
            elif kind == "release":  # gives back what the line holds there, up to quantity
                assert granted == (held > 0)
                assert after == available + min(quantity, held)
            else:  # consume: the held units first, the rest straight off on hand
                assert granted
                assert after == available - (quantity - min(quantity, held))
            for other in set(stock.positions) - {location_id}:
                assert stock.position(other) == Position(*before["positions"][other])
        else:
            event_type, record = record_for(n, step)
            change = apply_inventory_event(stock, event_type, record)
            if event_type == "InventoryCounted":
                assert stock.position(record["location_id"]).on_hand == record["counted_on_hand"]
            for m in change.movements:
                assert m.reserved_delta == 0  # inventory events never touch reservations
        for m in change.movements:
            assert (m.event_id, m.sku, m.occurred_at) == (event_id(n), SKU, at(n))
        # (g) the version rises by exactly the number of movements
        assert stock.version == version + len(change.movements)
        ledger.extend(change.movements)
        check_invariants(stock, ledger)
    return stock, ledger


@given(steps())
@settings(max_examples=150, database=None, deadline=None)
def test_stock_is_the_sum_of_the_ledger(drawn):
    sequence, roundtrips = drawn
    run(sequence, roundtrips)


@given(steps(with_decreases=False))
@settings(max_examples=60, database=None, deadline=None)
def test_without_decreases_available_never_goes_negative(drawn):
    sequence, roundtrips = drawn
    stock, _ = run(sequence, roundtrips)
    assert all(p.available >= 0 for p in stock.positions.values())


# --------------------------------------------------------------------------- examples


def test_receipt_raises_on_hand():
    stock = SkuStock(SKU)
    change = apply_inventory_event(stock, "InventoryReceived", received(1, "L1", 7, "PO-42"))
    assert stock.position("L1") == Position(7, 0)
    assert stock.version == 1
    [m] = change.movements
    assert (m.location_id, m.on_hand_delta, m.reserved_delta) == ("L1", 7, 0)
    assert (m.event_id, m.sku, m.occurred_at, m.order_id) == (event_id(1), SKU, at(1), "")
    assert "PO-42" in m.reason


def test_damaged_adjustment_lowers_on_hand():
    stock = stocked(L1=10)
    change = apply_inventory_event(stock, "InventoryAdjusted", adjusted(1, "L1", -3, "damaged"))
    assert stock.position("L1") == Position(7, 0)
    [m] = change.movements
    assert (m.on_hand_delta, m.reserved_delta, m.reason) == (-3, 0, "damaged")


def test_found_adjustment_raises_on_hand():
    stock = stocked(L1=10)
    apply_inventory_event(stock, "InventoryAdjusted", adjusted(1, "L1", 4, "found"))
    assert stock.position("L1") == Position(14, 0)


def test_count_records_the_difference():
    stock = stocked(L1=10)
    change = apply_inventory_event(stock, "InventoryCounted", counted(1, "L1", 6))
    assert stock.position("L1") == Position(6, 0)
    [m] = change.movements
    assert (m.on_hand_delta, m.reserved_delta) == (-4, 0)

    change = apply_inventory_event(stock, "InventoryCounted", counted(2, "L1", 9))
    assert [m.on_hand_delta for m in change.movements] == [3]
    assert stock.position("L1") == Position(9, 0)


def test_count_equal_to_on_hand_makes_no_movement():
    stock = stocked(L1=10)
    before, version = snapshot(stock), stock.version
    change = apply_inventory_event(stock, "InventoryCounted", counted(1, "L1", 10))
    assert change.movements == []
    assert stock.version == version
    assert snapshot(stock) == before


def test_count_of_zero_at_an_unknown_location_makes_no_movement():
    stock = SkuStock(SKU)
    change = apply_inventory_event(stock, "InventoryCounted", counted(1, "L9", 0))
    assert change.movements == []
    assert stock.position("L9") == Position(0, 0)


def test_count_keeps_reservations():
    stock = stocked(L1=10)
    apply_command(stock, command(1, "reserve", "L1", 4))
    apply_inventory_event(stock, "InventoryCounted", counted(2, "L1", 8))
    assert stock.position("L1") == Position(8, 4)


def test_transfer_is_two_movements_out_then_in_with_the_same_event_id():
    stock = stocked(L1=10, L2=1)
    change = apply_inventory_event(stock, "InventoryTransferred", transferred(1, "L1", "L2", 4))
    assert stock.position("L1") == Position(6, 0)
    assert stock.position("L2") == Position(5, 0)
    out, into = change.movements
    assert (out.location_id, out.on_hand_delta) == ("L1", -4)
    assert (into.location_id, into.on_hand_delta) == ("L2", 4)
    assert out.event_id == into.event_id == event_id(1)
    assert out.movement_id != into.movement_id
    assert stock.total() == Position(11, 0)
    assert stock.version == 2 + 2


def test_reserve_granted():
    stock = stocked(L1=5)
    change, granted = apply_command(stock, command(1, "reserve", "L1", 5))
    assert granted
    assert stock.position("L1") == Position(5, 5)
    assert stock.position("L1").available == 0
    assert stock.reservations == {"ORD-1/1/L1": 5}
    [m] = change.movements
    assert (m.on_hand_delta, m.reserved_delta, m.order_id) == (0, 5, "ORD-1")
    assert m.event_id == event_id(1)


def test_reserve_adds_to_the_same_line():
    stock = stocked(L1=10)
    apply_command(stock, command(1, "reserve", "L1", 2))
    apply_command(stock, command(2, "reserve", "L1", 3))
    assert stock.reservations == {"ORD-1/1/L1": 5}
    assert stock.position("L1") == Position(10, 5)


def test_reserve_refused_when_it_does_not_fit():
    stock = stocked(L1=5, L2=100)
    apply_command(stock, command(1, "reserve", "L1", 3, order_id="ORD-0"))
    before, version = snapshot(stock), stock.version
    change, granted = apply_command(stock, command(2, "reserve", "L1", 3))
    assert not granted
    assert change.movements == []
    assert stock.version == version
    assert snapshot(stock) == before


def test_reserve_refused_at_an_unknown_location():
    stock = SkuStock(SKU)
    change, granted = apply_command(stock, command(1, "reserve", "L1", 1))
    assert (granted, change.movements, stock.positions) == (False, [], {})


def test_reserve_refused_at_an_oversold_location():
    stock = stocked(L1=5)
    apply_command(stock, command(1, "reserve", "L1", 5))
    apply_inventory_event(stock, "InventoryAdjusted", adjusted(2, "L1", -2))
    assert stock.position("L1").available == -2
    _, granted = apply_command(stock, command(3, "reserve", "L1", 1, order_id="ORD-2"))
    assert not granted


def test_release_gives_units_back():
    stock = stocked(L1=10)
    apply_command(stock, command(1, "reserve", "L1", 4))
    change, granted = apply_command(stock, command(2, "release", "L1", 1))
    assert granted
    assert stock.position("L1") == Position(10, 3)
    assert stock.reservations == {"ORD-1/1/L1": 3}
    [m] = change.movements
    assert (m.on_hand_delta, m.reserved_delta, m.order_id) == (0, -1, "ORD-1")

    apply_command(stock, command(3, "release", "L1", 3))
    assert stock.position("L1") == Position(10, 0)
    assert stock.reservations == {}


def test_consume_lowers_on_hand_and_reserved():
    stock = stocked(L1=10)
    apply_command(stock, command(1, "reserve", "L1", 4))
    change, granted = apply_command(stock, command(2, "consume", "L1", 4))
    assert granted
    assert stock.position("L1") == Position(6, 0)
    assert stock.position("L1").available == 6
    assert stock.reservations == {}
    [m] = change.movements
    assert (m.on_hand_delta, m.reserved_delta, m.order_id) == (-4, -4, "ORD-1")


def test_releasing_never_reserved_changes_nothing():
    stock = stocked(L1=10)
    apply_command(stock, command(1, "reserve", "L1", 2, order_id="ORD-2"))
    before = snapshot(stock)
    change, granted = apply_command(stock, command(2, "release", "L1", 1))
    assert (granted, change.movements, snapshot(stock)) == (False, [], before)


def test_releasing_more_than_held_releases_what_is_held():
    stock = stocked(L1=10)
    apply_command(stock, command(1, "reserve", "L1", 2))
    change, granted = apply_command(stock, command(2, "release", "L1", 3))
    assert granted
    assert [m.reserved_delta for m in change.movements] == [-2]
    assert stock.position("L1") == Position(10, 0)
    assert stock.reservations == {}


def test_release_at_another_location_than_reserved_changes_nothing():
    stock = stocked(L1=10, L2=10)
    apply_command(stock, command(1, "reserve", "L1", 2))
    _, granted = apply_command(stock, command(2, "release", "L2", 2))
    assert not granted
    assert stock.position("L1") == Position(10, 2)


def test_consume_beyond_the_reservation_ships_the_rest_unreserved():
    stock = stocked(L1=10)
    apply_command(stock, command(1, "reserve", "L1", 2))
    change, granted = apply_command(stock, command(2, "consume", "L1", 5))
    assert granted
    [m] = change.movements
    assert (m.on_hand_delta, m.reserved_delta, m.reason) == (-5, -2, "shipped")
    assert stock.position("L1") == Position(5, 0)
    assert stock.reservations == {}


def test_consume_without_a_reservation_ships_from_on_hand():
    stock = stocked(L1=3)
    apply_command(stock, command(1, "consume", "L1", 2))
    assert stock.position("L1") == Position(1, 0)


def test_backordered_lines_are_filled_oldest_first_when_stock_arrives():
    stock = stocked(L1=0)
    apply_command(stock, command(3, "backorder", "", 2, order_id="ORD-NEW"))
    apply_command(stock, command(1, "backorder", "", 3, order_id="ORD-OLD"))
    change = apply_inventory_event(stock, "InventoryReceived", received(4, "L1", 4))
    grants = fill_backorders(stock, change, {"L1"}, "cause", at(4))
    assert [(r.order_id, r.location_id, q) for r, q in grants] == [
        ("ORD-OLD", "L1", 3),
        ("ORD-NEW", "L1", 1),
    ]
    assert stock.position("L1") == Position(4, 4)
    assert stock.waiting == {"ORD-NEW/1/": [int(at(3).timestamp() * 1000), 1]}
    assert [m.reserved_delta for m in change.movements] == [0, 3, 1]


def test_backorders_wait_for_shipping_locations_and_can_be_withdrawn():
    stock = stocked(L1=0)
    apply_command(stock, command(1, "backorder", "", 2))
    change = apply_inventory_event(stock, "InventoryReceived", received(2, "STORE", 5))
    assert fill_backorders(stock, change, {"L1"}, "cause", at(2)) == []
    _, withdrawn = apply_command(stock, command(3, "withdraw", "", 2))
    assert withdrawn and stock.waiting == {}
    change = apply_inventory_event(stock, "InventoryReceived", received(4, "L1", 5))
    assert fill_backorders(stock, change, {"L1"}, "cause", at(4)) == []


def test_waiting_lines_survive_the_stored_form():
    stock = stocked(L1=0)
    apply_command(stock, command(1, "backorder", "", 2))
    restored = SkuStock.from_dict(json.loads(json.dumps(stock.as_dict())))
    assert restored.waiting == stock.waiting


@pytest.mark.parametrize("action", ["reserve", "release", "consume", "backorder", "withdraw"])
@pytest.mark.parametrize("quantity", [0, -1])
def test_quantity_not_positive_raises(action, quantity):
    stock = stocked(L1=10)
    apply_command(stock, command(1, "reserve", "L1", 2))
    before = snapshot(stock)
    with pytest.raises(LedgerError):
        apply_command(stock, command(2, action, "L1", quantity))
    assert snapshot(stock) == before


def test_unknown_action_raises():
    stock = stocked(L1=10)
    apply_command(stock, command(1, "reserve", "L1", 2))
    before = snapshot(stock)
    with pytest.raises(LedgerError, match="unknown"):
        apply_command(stock, command(2, "steal", "L1", 1))
    assert snapshot(stock) == before


@pytest.mark.parametrize("event_type", ["OrderPlaced", "ShipmentCreated", "inventoryreceived"])
def test_non_inventory_event_raises(event_type):
    stock = stocked(L1=10)
    before = snapshot(stock)
    with pytest.raises(LedgerError):
        apply_inventory_event(stock, event_type, received(1, "L1", 3))
    assert snapshot(stock) == before


def test_ledger_error_is_a_value_error():
    assert issubclass(LedgerError, ValueError)


def test_reservation_key_round_trips_with_slashes_in_the_order_id():
    reservation = Reservation("ORD/3/x", "1", "L1")
    assert Reservation.from_key(reservation.key) == reservation


def test_as_dict_round_trips_through_json():
    stock = stocked(L1=10, L2=3)
    apply_command(stock, command(1, "reserve", "L1", 4))
    stock.low.add("L2")
    data = json.loads(json.dumps(stock.as_dict()))
    restored = SkuStock.from_dict(data)
    assert restored == stock
    assert restored.as_dict() == stock.as_dict()


def test_as_dict_is_a_snapshot():
    stock = stocked(L1=10)
    data = stock.as_dict()
    expected = copy.deepcopy(data)
    apply_command(stock, command(1, "reserve", "L1", 4))
    assert data == expected
