"""The order state machine: every status of analytics.md, every move between them. Pure rules.

Events from the warehouse and the carriers arrive late and out of order, so the machine
accepts what a warehouse would call plausible and refuses what cannot have happened:
- a scan that repeats the status the order has (a second pick scan, a second packed
  message), or a warehouse message that arrives after the order moved on (even after
  delivery), is recorded and changes nothing;
- a step the warehouse did not report (packed without picked, shipped without packed) is
  accepted: the later fact implies the earlier ones;
- a fulfillment fact for an order still on hold, or anything after cancellation, or a
  cancellation after shipment, is impossible and goes to the dead-letter topic;
- a carrier status never moves an order backwards (delivered stays delivered).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Status(Enum):
    ON_HOLD = "on_hold"
    ALLOCATED = "allocated"
    PARTIALLY_BACKORDERED = "partially_backordered"
    BACKORDERED = "backordered"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# How far along the journey a status is; fulfillment and carrier facts only move forward.
_STAGE = {
    Status.ON_HOLD: 0,
    Status.BACKORDERED: 1,
    Status.PARTIALLY_BACKORDERED: 1,
    Status.ALLOCATED: 1,
    Status.PICKED: 2,
    Status.PACKED: 3,
    Status.SHIPPED: 4,
    Status.OUT_FOR_DELIVERY: 5,
    Status.DELIVERED: 6,
}

# What each fact asks for, and from which statuses it is possible at all.
RELEASED = {Status.ALLOCATED, Status.PARTIALLY_BACKORDERED, Status.BACKORDERED}
_CARRIED = {Status.SHIPPED, Status.OUT_FOR_DELIVERY, Status.DELIVERED}
# A warehouse message can come late, even after delivery (a pack scan uploaded at the end of
# a shift, a second parcel of a split order): from any released status it is plausible.
_AFTER_HOLD = RELEASED | {Status.PICKED, Status.PACKED} | _CARRIED
_FACTS = {
    "OrderPicked": (Status.PICKED, _AFTER_HOLD),
    "OrderPacked": (Status.PACKED, _AFTER_HOLD),
    "ShipmentCreated": (Status.SHIPPED, _AFTER_HOLD),
    "out_for_delivery": (Status.OUT_FOR_DELIVERY, _CARRIED),
    "delivered": (Status.DELIVERED, _CARRIED),
}
_CANCELLABLE = {Status.ON_HOLD, Status.PICKED, Status.PACKED} | RELEASED


def stage(status: Status) -> int:
    """How far along the journey a status is (cancelled is off the journey: -1)."""
    return _STAGE.get(status, -1)


class ImpossibleTransition(ValueError):
    """A fact that cannot have happened to an order in its status (dead-lettered)."""


@dataclass(frozen=True)
class Transition:
    before: Status | None
    after: Status | None

    @property
    def changed(self) -> bool:
        return self.before is not self.after


def placed(current: Status | None) -> Transition:
    if current is not None:
        raise ImpossibleTransition(f"order already placed ({current.value})")
    return Transition(None, Status.ON_HOLD)


def _allocation_status(lines_allocated: int, lines_backordered: int) -> Status:
    if not lines_backordered:
        return Status.ALLOCATED
    return Status.PARTIALLY_BACKORDERED if lines_allocated else Status.BACKORDERED


def hold_ended(current: Status, lines_allocated: int, lines_backordered: int) -> Transition:
    """The fraud hold is over and allocation ran: where the order stands now."""
    if current is not Status.ON_HOLD:
        raise ImpossibleTransition(f"hold ended for an order that is {current.value}")
    return Transition(current, _allocation_status(lines_allocated, lines_backordered))


def reallocated(current: Status, lines_allocated: int, lines_backordered: int) -> Transition:
    """Allocation changed after the hold (a backorder filled, a refused or revoked
    reservation re-planned). Only a released order that has not started picking moves; a
    picked or later order keeps its status (its lines are in the warehouse's hands)."""
    if current not in RELEASED:
        return Transition(current, current)
    return Transition(current, _allocation_status(lines_allocated, lines_backordered))


def cancelled(current: Status | None) -> Transition:
    if current not in _CANCELLABLE:
        state = current.value if current else "unknown"
        raise ImpossibleTransition(f"cannot cancel an order that is {state}")
    return Transition(current, Status.CANCELLED)


def fact(current: Status | None, what: str) -> Transition:
    """A warehouse event type (OrderPicked, OrderPacked, ShipmentCreated) or a carrier
    status (out_for_delivery, delivered). Never moves the order backwards."""
    wanted, possible_from = _FACTS[what]
    if current not in possible_from:
        state = current.value if current else "unknown"
        raise ImpossibleTransition(f"{what} for an order that is {state}")
    if _STAGE[current] >= _STAGE[wanted]:
        return Transition(current, current)  # a repeat or a late fact: nothing changes
    return Transition(current, wanted)
