"""The order state machine: every transition, and every impossible one."""

import pytest

from streams.orders.lifecycle import (
    ImpossibleTransition,
    Status,
    cancelled,
    fact,
    hold_ended,
    placed,
    reallocated,
    stage,
)

S = Status
RELEASED = [S.ALLOCATED, S.PARTIALLY_BACKORDERED, S.BACKORDERED]


def test_a_new_order_goes_on_hold_and_only_once():
    assert placed(None).after is S.ON_HOLD
    with pytest.raises(ImpossibleTransition):
        placed(S.ON_HOLD)


@pytest.mark.parametrize(
    ("allocated", "backordered", "status"),
    [(3, 0, S.ALLOCATED), (2, 1, S.PARTIALLY_BACKORDERED), (0, 3, S.BACKORDERED)],
)
def test_the_end_of_the_hold_allocates(allocated, backordered, status):
    assert hold_ended(S.ON_HOLD, allocated, backordered).after is status


@pytest.mark.parametrize("current", [s for s in S if s is not S.ON_HOLD])
def test_the_hold_ends_only_once(current):
    with pytest.raises(ImpossibleTransition):
        hold_ended(current, 1, 0)


@pytest.mark.parametrize("current", RELEASED)
@pytest.mark.parametrize(
    ("allocated", "backordered", "status"),
    [(3, 0, S.ALLOCATED), (2, 1, S.PARTIALLY_BACKORDERED), (0, 3, S.BACKORDERED)],
)
def test_a_released_order_follows_its_allocation(current, allocated, backordered, status):
    assert reallocated(current, allocated, backordered).after is status


@pytest.mark.parametrize("current", [s for s in S if s not in RELEASED])
def test_reallocation_leaves_other_statuses_alone(current):
    assert not reallocated(current, 0, 3).changed


def test_stages_order_the_journey_and_cancelled_is_off_it():
    journey = [S.ON_HOLD, S.ALLOCATED, S.PICKED, S.PACKED, S.SHIPPED, S.OUT_FOR_DELIVERY]
    assert [stage(s) for s in journey] == sorted(stage(s) for s in journey)
    assert stage(S.CANCELLED) < stage(S.ON_HOLD)


@pytest.mark.parametrize("current", [S.ON_HOLD, *RELEASED, S.PICKED, S.PACKED])
def test_cancel_before_shipment(current):
    assert cancelled(current).after is S.CANCELLED


@pytest.mark.parametrize("current", [None, S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED, S.CANCELLED])
def test_cancel_after_shipment_or_twice_is_impossible(current):
    with pytest.raises(ImpossibleTransition):
        cancelled(current)


@pytest.mark.parametrize(
    ("current", "what", "after"),
    [
        (S.ALLOCATED, "OrderPicked", S.PICKED),
        (S.PICKED, "OrderPacked", S.PACKED),
        (S.PACKED, "ShipmentCreated", S.SHIPPED),
        (S.SHIPPED, "out_for_delivery", S.OUT_FOR_DELIVERY),
        (S.OUT_FOR_DELIVERY, "delivered", S.DELIVERED),
        (S.SHIPPED, "delivered", S.DELIVERED),
        (S.ALLOCATED, "OrderPacked", S.PACKED),  # pick scan missing: packed implies picked
        (S.ALLOCATED, "ShipmentCreated", S.SHIPPED),
        (S.PARTIALLY_BACKORDERED, "ShipmentCreated", S.SHIPPED),
    ],
)
def test_the_journey_forward(current, what, after):
    transition = fact(current, what)
    assert transition.after is after
    assert transition.changed


@pytest.mark.parametrize(
    ("current", "what"),
    [
        (S.PICKED, "OrderPicked"),  # a duplicate pick
        (S.PACKED, "OrderPicked"),  # a late pick scan
        (S.SHIPPED, "OrderPacked"),
        (S.SHIPPED, "ShipmentCreated"),  # the second shipment of a split order
        (S.DELIVERED, "delivered"),
        (S.DELIVERED, "out_for_delivery"),  # a late scan never moves the order back
    ],
)
def test_repeats_and_late_facts_change_nothing(current, what):
    transition = fact(current, what)
    assert transition.after is current
    assert not transition.changed


@pytest.mark.parametrize(
    ("current", "what"),
    [
        (S.CANCELLED, "OrderPicked"),  # pick after cancel
        (S.CANCELLED, "ShipmentCreated"),
        (S.ON_HOLD, "OrderPicked"),  # the warehouse cannot have it yet
        (S.ON_HOLD, "ShipmentCreated"),
        (None, "OrderPacked"),  # unknown order
        (S.ALLOCATED, "delivered"),  # a carrier status before any shipment
        (S.PICKED, "out_for_delivery"),
    ],
)
def test_impossible_facts(current, what):
    with pytest.raises(ImpossibleTransition):
        fact(current, what)
