"""The order's journey through the pure decisions and the real ledgers, without Kafka."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.orders import decisions
from streams.orders.lifecycle import ImpossibleTransition
from streams.orders.order import Order
from tests.unit.order_world import (
    CHICAGO,
    MANHATTAN_STORE,
    NEWARK,
    PHILLY,
    RENO,
    T0,
    World,
)

HOLD_END = T0 + timedelta(hours=1)
LATER = HOLD_END + timedelta(minutes=30)


def test_the_order_waits_out_the_fraud_hold_then_one_location_fills_it():
    world = World([NEWARK, CHICAGO], {("A", "CHICAGO"): 5, ("B", "CHICAGO"): 5, ("A", "NEWARK"): 5})
    order = world.place("O1", {"A": 2, "B": 1})
    assert order.stamps["hold_until"] == HOLD_END
    world.advance(HOLD_END - timedelta(milliseconds=1))
    assert world.statuses("O1") == ["on_hold"]
    world.advance(HOLD_END)
    # Newark is nearer but cannot fill B: one shipment from Chicago beats a split
    assert world.allocation_rows("O1") == {
        ("1", "CHICAGO"): (2, "reserved"),
        ("2", "CHICAGO"): (1, "reserved"),
    }
    assert world.statuses("O1") == ["on_hold", "allocated"]
    assert world.orders["O1"].stamps["allocated_at"] == HOLD_END
    assert world.stock("A").position("CHICAGO").reserved == 2


def test_the_nearest_of_several_locations_that_can_fill_wins():
    stock = {("A", site.location_id): 9 for site in (RENO, CHICAGO, PHILLY, NEWARK)}
    world = World([RENO, CHICAGO, PHILLY, NEWARK], stock)
    world.place("O1", {"A": 3})
    world.advance(HOLD_END)
    assert world.allocation_rows("O1") == {("1", "NEWARK"): (3, "reserved")}


def test_non_shipping_stores_are_never_allocated():
    world = World([MANHATTAN_STORE, CHICAGO], {("A", "MANHATTAN-STORE"): 50, ("A", "CHICAGO"): 2})
    world.place("O1", {"A": 2})
    world.advance(HOLD_END)
    assert world.allocation_rows("O1") == {("1", "CHICAGO"): (2, "reserved")}
    assert world.stock("A").position("MANHATTAN-STORE").reserved == 0


def test_split_across_as_few_locations_as_possible():
    world = World(
        [NEWARK, PHILLY, CHICAGO],
        {("A", "NEWARK"): 2, ("B", "CHICAGO"): 1, ("A", "CHICAGO"): 4, ("C", "PHILLY"): 1},
    )
    world.place("O1", {"A": 4, "B": 1, "C": 1})
    world.advance(HOLD_END)
    # Chicago fills A and B (5 units); Philly the rest; Newark is not needed
    assert world.allocation_rows("O1") == {
        ("1", "CHICAGO"): (4, "reserved"),
        ("2", "CHICAGO"): (1, "reserved"),
        ("3", "PHILLY"): (1, "reserved"),
    }
    assert world.statuses("O1")[-1] == "allocated"


def test_what_no_location_can_fill_is_backordered_then_filled_by_a_later_receipt():
    world = World([NEWARK, CHICAGO], {("A", "NEWARK"): 1, ("B", "CHICAGO"): 0})
    world.place("O1", {"A": 3, "B": 2})
    world.advance(HOLD_END)
    assert world.allocation_rows("O1") == {
        ("1", "NEWARK"): (1, "reserved"),
        ("1", ""): (2, "backordered"),
        ("2", ""): (2, "backordered"),
    }
    assert world.statuses("O1")[-1] == "partially_backordered"

    world.receive("B", "CHICAGO", 5, LATER)
    world.run()
    assert world.allocation_rows("O1")[("2", "CHICAGO")] == (2, "reserved")
    assert world.allocation_rows("O1")[("2", "")] == (2, "filled")
    assert world.statuses("O1")[-1] == "partially_backordered"  # line 1 still waits

    world.receive("A", "CHICAGO", 1, LATER + timedelta(hours=1))
    world.receive("A", "NEWARK", 1, LATER + timedelta(hours=2))
    world.run()
    rows = world.allocation_rows("O1")
    assert rows[("1", "")] == (2, "filled")
    assert (rows[("1", "NEWARK")], rows[("1", "CHICAGO")]) == ((2, "reserved"), (1, "reserved"))
    assert world.statuses("O1")[-1] == "allocated"
    assert world.stock("B").position("CHICAGO").reserved == 2
    assert world.stock("A").waiting == {}


def test_backorders_are_filled_oldest_order_first():
    world = World([NEWARK], {("A", "NEWARK"): 0})
    world.place("OLD", {"A": 2}, at=T0)
    world.place("NEW", {"A": 2}, at=T0 + timedelta(minutes=5))
    world.advance(HOLD_END + timedelta(minutes=5))
    world.receive("A", "NEWARK", 3, LATER)
    world.run()
    assert world.allocation_rows("OLD")[("1", "NEWARK")] == (2, "reserved")
    assert world.allocation_rows("NEW")[("1", "NEWARK")] == (1, "reserved")
    assert world.allocation_rows("NEW")[("1", "")] == (1, "backordered")


def test_cancel_during_the_hold_never_reaches_allocation():
    world = World([NEWARK], {("A", "NEWARK"): 5})
    world.place("O1", {"A": 2})
    world.cancel("O1", T0 + timedelta(minutes=10))
    world.advance(HOLD_END + timedelta(days=2))
    assert world.statuses("O1") == ["on_hold", "cancelled"]
    assert world.allocation_rows("O1") == {}
    assert world.stock("A").position("NEWARK").reserved == 0
    assert world.orders["O1"].stamps["cancelled_at"] == T0 + timedelta(minutes=10)


def test_cancel_after_allocation_releases_reservations_and_withdraws_backorders():
    world = World([NEWARK], {("A", "NEWARK"): 1})
    world.place("O1", {"A": 3})
    world.advance(HOLD_END)
    world.cancel("O1", LATER, "payment")
    world.run()
    assert world.allocation_rows("O1") == {
        ("1", "NEWARK"): (1, "released"),
        ("1", ""): (2, "released"),
    }
    assert world.stock("A").position("NEWARK").reserved == 0
    assert world.stock("A").waiting == {}
    world.receive("A", "NEWARK", 5, LATER + timedelta(hours=1))
    world.run()
    assert world.stock("A").position("NEWARK").reserved == 0
    assert world.orders["O1"].cancel_reason == "payment"


def test_two_orders_racing_for_the_last_unit_never_both_win():
    world = World([NEWARK, RENO], {("A", "NEWARK"): 1, ("A", "RENO"): 1})
    world.place("O1", {"A": 1})
    world.place("O2", {"A": 1})
    # both plan on the same snapshot (Newark has 1) before either reservation is answered
    world.step_timer("O1", decisions.HOLD, HOLD_END)
    world.step_timer("O2", decisions.HOLD, HOLD_END)
    assert len(world.commands) == 2
    world.run()
    assert world.allocation_rows("O1") == {("1", "NEWARK"): (1, "reserved")}
    # O2 was refused at Newark and re-planned to Reno with what the refusal reported
    assert world.allocation_rows("O2") == {("1", "RENO"): (1, "reserved")}
    assert world.stock("A").position("NEWARK").reserved == 1
    assert world.stock("A").position("RENO").reserved == 1


def test_a_lost_race_with_nothing_left_backorders_after_the_attempts():
    world = World([NEWARK], {("A", "NEWARK"): 1})
    world.place("O1", {"A": 1})
    world.place("O2", {"A": 1})
    world.step_timer("O1", decisions.HOLD, HOLD_END)
    world.step_timer("O2", decisions.HOLD, HOLD_END)
    world.run()
    assert world.allocation_rows("O2") == {("1", ""): (1, "backordered")}
    assert world.statuses("O2")[-2:] == ["allocated", "backordered"]


def test_an_oversold_location_revokes_and_the_order_is_replanned():
    world = World([NEWARK, PHILLY], {("A", "NEWARK"): 2, ("A", "PHILLY"): 5})
    world.place("O1", {"A": 2})
    world.advance(HOLD_END)
    assert world.allocation_rows("O1") == {("1", "NEWARK"): (2, "reserved")}
    world.adjust("A", "NEWARK", -2, LATER)  # damaged: Newark has nothing left
    world.run()
    assert world.allocation_rows("O1") == {
        ("1", "NEWARK"): (2, "released"),
        ("1", "PHILLY"): (2, "reserved"),
    }
    assert world.stock("A").position("NEWARK").reserved == 0


def test_a_picked_order_keeps_its_reservation_when_oversold():
    world = World([NEWARK, PHILLY], {("A", "NEWARK"): 2, ("A", "PHILLY"): 5})
    world.place("O1", {"A": 2})
    world.advance(HOLD_END)
    world.fulfil("O1", "OrderPicked", LATER, "NEWARK", lines=[])
    world.adjust("A", "NEWARK", -2, LATER)
    world.run()
    assert world.allocation_rows("O1") == {("1", "NEWARK"): (2, "reserved")}


def test_fulfillment_moves_the_order_and_the_shipment_consumes_the_reservation():
    world = World([NEWARK, PHILLY], {("A", "NEWARK"): 5, ("B", "NEWARK"): 5})
    world.place("O1", {"A": 2, "B": 1})
    world.advance(HOLD_END)
    world.fulfil("O1", "OrderPicked", LATER, "NEWARK", lines=[])
    world.fulfil("O1", "OrderPicked", LATER, "NEWARK", lines=[])  # a second pick scan
    world.fulfil("O1", "OrderPacked", LATER + timedelta(minutes=5), "NEWARK", package_count=1)
    world.ship("O1", LATER + timedelta(minutes=9), "NEWARK", {"1": 2, "2": 1})
    world.run()
    assert world.statuses("O1") == ["on_hold", "allocated", "picked", "picked", "packed", "shipped"]
    assert world.allocation_rows("O1") == {
        ("1", "NEWARK"): (2, "shipped"),
        ("2", "NEWARK"): (1, "shipped"),
    }
    a = world.stock("A").position("NEWARK")
    assert (a.on_hand, a.reserved) == (3, 0)
    [shipment] = world.published.shipments
    assert shipment["tracking_url"] == "https://track.example/ups/1ZSH-O1-1"
    assert shipment["promised_delivery_date"] == world.orders["O1"].promised_delivery_date
    kinds = [n["kind"] for n in world.published.notifications]
    assert kinds == ["order_confirmation", "shipping_confirmation"]
    assert world.published.notifications[1]["tracking_url"] == shipment["tracking_url"]
    stamps = world.orders["O1"].stamps
    assert (stamps["picked_at"], stamps["shipped_at"]) == (LATER, LATER + timedelta(minutes=9))


def test_a_shipment_from_another_location_releases_the_reservation_it_did_not_use():
    world = World([NEWARK, PHILLY], {("A", "NEWARK"): 5, ("A", "PHILLY"): 5})
    world.place("O1", {"A": 2})
    world.advance(HOLD_END)
    world.ship("O1", LATER, "PHILLY", {"1": 2})
    world.run()
    assert world.allocation_rows("O1") == {
        ("1", "NEWARK"): (2, "released"),
        ("1", "PHILLY"): (2, "shipped"),
    }
    assert world.stock("A").position("NEWARK").reserved == 0
    assert world.stock("A").position("PHILLY").on_hand == 3


def test_shipping_a_backordered_line_withdraws_its_backorder():
    world = World([NEWARK], {("A", "NEWARK"): 0})
    world.place("O1", {"A": 1})
    world.advance(HOLD_END)
    world.ship("O1", LATER, "NEWARK", {"1": 1})
    world.run()
    assert world.stock("A").waiting == {}
    assert world.allocation_rows("O1")[("1", "")] == (1, "filled")


@pytest.mark.parametrize(
    ("setup", "event_type"),
    [
        ("cancelled", "OrderPicked"),
        ("cancelled", "ShipmentCreated"),
        ("on_hold", "OrderPicked"),
    ],
)
def test_impossible_facts_are_refused(setup, event_type):
    world = World([NEWARK], {("A", "NEWARK"): 5})
    world.place("O1", {"A": 1})
    if setup == "cancelled":
        world.advance(HOLD_END)
        world.cancel("O1", LATER)
    with pytest.raises(ImpossibleTransition):
        world.fulfil("O1", event_type, LATER, "NEWARK", lines=[], shipment_id="S")


def test_cancelling_twice_or_after_shipment_is_refused():
    world = World([NEWARK], {("A", "NEWARK"): 5})
    world.place("O1", {"A": 1})
    world.advance(HOLD_END)
    world.ship("O1", LATER, "NEWARK", {"1": 1})
    with pytest.raises(ImpossibleTransition):
        world.cancel("O1", LATER)


def test_a_shipment_naming_an_unknown_line_is_refused():
    world = World([NEWARK], {("A", "NEWARK"): 5})
    world.place("O1", {"A": 1})
    world.advance(HOLD_END)
    with pytest.raises(ImpossibleTransition, match="lines"):
        world.fulfil(
            "O1",
            "ShipmentCreated",
            LATER,
            "NEWARK",
            lines=[{"line_id": "9", "sku": "A", "quantity": 1}],
            shipment_id="S",
            carrier="ups",
            service="ground",
            tracking_number="T",
        )


def test_late_shipment_opens_at_the_ship_by_time_and_resolves_when_it_ships():
    world = World([NEWARK], {("A", "NEWARK"): 5})
    world.place("O1", {"A": 1})
    ship_by = HOLD_END + timedelta(hours=24)
    world.advance(ship_by + timedelta(hours=5))  # the clock passes it only later
    [opened] = world.published.exceptions
    assert (opened["kind"], opened["state"], opened["opened_at"]) == (
        "late_shipment",
        "opened",
        ship_by,
    )
    shipped_at = ship_by + timedelta(hours=6)
    world.ship("O1", shipped_at, "NEWARK", {"1": 1})
    resolved = world.published.exceptions[-1]
    assert (resolved["exception_id"], resolved["state"]) == (opened["exception_id"], "resolved")
    assert (resolved["opened_at"], resolved["resolved_at"]) == (ship_by, shipped_at)


def test_an_order_shipped_in_time_never_opens_late_shipment():
    world = World([NEWARK], {("A", "NEWARK"): 5})
    world.place("O1", {"A": 1})
    world.advance(HOLD_END)
    world.ship("O1", LATER, "NEWARK", {"1": 1})
    world.advance(HOLD_END + timedelta(days=3))
    assert world.published.exceptions == []


def test_delivery_schedules_the_follow_up_notification():
    world = World([NEWARK], {("A", "NEWARK"): 5})
    world.place("O1", {"A": 1})
    world.advance(HOLD_END)
    world.ship("O1", LATER, "NEWARK", {"1": 1})
    delivered_at = LATER + timedelta(days=2)
    world.step("O1", delivered_at, lambda step: decisions.carrier_status(step, "delivered"))
    world.advance(delivered_at + timedelta(days=3) - timedelta(seconds=1))
    assert [n["kind"] for n in world.published.notifications][-1] == "shipping_confirmation"
    world.advance(delivered_at + timedelta(days=4))
    follow_up = world.published.notifications[-1]
    assert (follow_up["kind"], follow_up["due_at"]) == (
        "follow_up",
        delivered_at + timedelta(days=3),
    )


def test_the_same_inputs_give_the_same_records():
    def journey() -> World:
        world = World([NEWARK], {("A", "NEWARK"): 5})
        world.place("O1", {"A": 1})
        world.advance(HOLD_END + timedelta(days=2))
        return world

    first, second = journey(), journey()
    ids = [(n["notification_id"]) for n in first.published.notifications]
    assert ids == [n["notification_id"] for n in second.published.notifications]
    assert [u["version"] for u in first.published.updates] == [
        u["version"] for u in second.published.updates
    ]


def test_the_stored_form_round_trips_through_json():
    world = World([NEWARK], {("A", "NEWARK"): 1})
    world.place("O1", {"A": 3})
    world.advance(HOLD_END)
    order = world.orders["O1"]
    data = order.as_dict()
    assert Order.from_dict(json.loads(json.dumps(data))).as_dict() == data


# ----------------------------------------------------------------------------- properties
SITES = [NEWARK, PHILLY, CHICAGO, RENO, MANHATTAN_STORE]


@st.composite
def histories(draw):
    skus = ["A", "B", "C"]
    stock = {(sku, site.location_id): draw(st.integers(0, 6)) for sku in skus for site in SITES}
    orders = []
    for n in range(draw(st.integers(1, 8))):
        chosen = draw(st.lists(st.sampled_from(skus), min_size=1, max_size=3, unique=True))
        lines = {sku: draw(st.integers(1, 5)) for sku in chosen}
        orders.append((f"O{n}", lines, draw(st.integers(0, 30))))
    actions = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["receive", "damage", "cancel", "ship"]),
                st.integers(0, len(orders) - 1),
                st.sampled_from(skus),
                st.sampled_from(SITES).map(lambda s: s.location_id),
                st.integers(1, 4),
            ),
            max_size=12,
        )
    )
    return stock, orders, actions


@given(histories())
@settings(max_examples=400, database=None, deadline=None)
def test_no_unit_is_ever_reserved_twice_and_every_unit_is_accounted_for(history):
    stock, orders, actions = history
    world = World(SITES, stock)
    for order_id, lines, minute in orders:
        world.place(order_id, lines, at=T0 + timedelta(minutes=minute))
    # every order plans before any reservation is answered: the worst race
    for order_id, order in world.orders.items():
        world.step_timer(order_id, decisions.HOLD, order.timers[decisions.HOLD])
    world.run()
    now = HOLD_END + timedelta(hours=1)
    for kind, n, sku, location_id, units in actions:
        now += timedelta(minutes=1)
        order_id = orders[n][0]
        order = world.orders[order_id]
        if kind == "receive":
            world.receive(sku, location_id, units, now)
        elif kind == "damage":
            world.adjust(sku, location_id, -units, now)
        elif kind == "cancel" and order.status.value not in ("cancelled", "shipped"):
            world.cancel(order_id, now)
        elif kind == "ship" and order.status.value not in ("cancelled", "shipped"):
            held = order.reserved_at()
            if held:
                line_id, where, count = held[0]
                world.ship(order_id, now, where, {line_id: count})
        world.run()

    for sku, ledger in world.skus.items():
        for location_id, position in ledger.positions.items():
            held = sum(
                o.count(line_id, location_id, "reserved")
                for o in world.orders.values()
                for line_id, line in o.lines.items()
                if line.sku == sku
            )
            # the ledger and the orders agree on every reserved unit
            assert position.reserved == held, (sku, location_id)
            assert position.reserved >= 0
    for order in world.orders.values():
        assert not order.pending
        for line_id, line in order.lines.items():
            accounted = (
                order.line_total(line_id, "reserved")
                + order.line_total(line_id, "shipped")
                + order.backordered(line_id)
            )
            if order.status.value == "cancelled":
                assert order.line_total(line_id, "reserved") == order.backordered(line_id) == 0
            elif order.line_total(line_id, "shipped") < line.quantity:
                assert accounted == line.quantity, (order.order_id, line_id, order.units)
