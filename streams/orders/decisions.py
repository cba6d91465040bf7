"""The order's journey, decided: placement, fraud hold, allocation, re-plans, backorders,
fulfillment, cancellation, the ship-by SLA and the notifications. Pure rules over a Step.

Allocation is optimistic: when the hold ends the planner's answer sets the status at once
(reservations in flight count as allocated) and the reserve commands go to the SKU owners.
A refused reservation (another order took the stock first) puts its units back into a
re-plan that runs when the round's last reply is in, with the availability the refusals
reported; after `allocation_attempts` rounds what is left is backordered. Backordered lines
wait at their SKU owner, which reserves for them, oldest first, when stock arrives. An
oversold location revokes reservations of orders not yet picked; they are re-planned too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from schemas.canonical import from_ms, to_ms
from streams.orders import lifecycle
from streams.orders.allocation import Need, Site, plan
from streams.orders.effects import Rules, Step, derived_id
from streams.orders.lifecycle import ImpossibleTransition, Status
from streams.orders.order import (
    BACKORDER,
    BACKORDERED,
    FILLED,
    RELEASED,
    RESERVED,
    SHIPPED,
    Line,
    Order,
)

HOLD, SHIP_BY, FOLLOW_UP = "hold", "ship_by", "follow_up"
LATE_SHIPMENT = "late_shipment"


@dataclass(frozen=True)
class Network:
    """What the order side sees of the stock network when it plans (a snapshot: the SKU
    owners' replies decide)."""

    sites: list[Site]
    available: Callable[[str], Mapping[str, int]]  # sku -> location_id -> available
    origins: Mapping[str, dict]  # location_id -> {"country", "postal_code"}


# --- placement and cancellation --------------------------------------------------------------
def place(record: dict, partition: int, rules: Rules) -> tuple[Order, Step]:
    at = record["occurred_at"]
    address = record["shipping_address"]
    lines = {
        line["line_id"]: Line(line["sku"], line["quantity"], str(line["unit_price"]))
        for line in record["lines"]
    }
    total = sum((Decimal(line.unit_price) * line.quantity for line in lines.values()), Decimal(0))
    order = Order(
        order_id=record["order_id"],
        partition=partition,
        status=Status.ON_HOLD,
        channel=record["channel"],
        currency=record["currency"],
        order_total=str(total.quantize(Decimal("0.01"))),
        shipping_method=record["shipping_method"],
        promised_delivery_date=record.get("promised_delivery_date"),
        destination=(address["latitude"], address["longitude"]),
        shipping={k: address[k] for k in ("country", "region", "city")},
        customer_key=rules.customer_key(record["customer"]["customer_id"]),
        recipient={"email": record["customer"]["email"], "name": address["name"]},
        lines=lines,
        stamps={"placed_at": at, "hold_until": at + rules.fraud_hold},
        timers={HOLD: at + rules.fraud_hold},
    )
    step = Step(order, at, record["event_id"], rules)
    step.record("OrderPlaced", lifecycle.placed(None))
    step.notify("order_confirmation", "placed", at, _order_details(order))
    return order, step


def cancel(step: Step, reason: str) -> None:
    order = step.order
    transition = lifecycle.cancelled(order.status)
    for line_id in order.lines:  # first, or the units released below would fill them
        step.withdraw(line_id, RELEASED)
    for line_id, location_id, units in order.reserved_at():
        step.release(line_id, location_id, units)
    order.replan.clear()
    order.timers.clear()
    order.stamps["cancelled_at"] = step.at
    order.cancel_reason = reason
    _resolve_late_shipment(step)
    step.record("OrderCancelled", transition)


# --- timers ----------------------------------------------------------------------------------
def fire_timer(step: Step, kind: str, network: Network) -> None:
    """A timer's due time has been reached on the order's partition; step.at is the due time
    (not the clock's), so a replay records the same times as live processing did."""
    order = step.order
    if order.timers.get(kind) != step.at:
        return  # re-scheduled or cleared since
    del order.timers[kind]
    if kind == HOLD:
        _release_hold(step, network)
    elif kind == SHIP_BY and lifecycle.stage(order.status) < lifecycle.stage(Status.SHIPPED):
        order.exceptions[LATE_SHIPMENT] = step.at
        step.exception(LATE_SHIPMENT, step.at, False, "not shipped by its ship-by time")
    elif kind == FOLLOW_UP:
        step.notify("follow_up", "delivered", step.at, _order_details(order))


def timer_cause(order_id: str, kind: str, due: datetime) -> str:
    return derived_id(order_id, kind, due.isoformat())


def _release_hold(step: Step, network: Network) -> None:
    order = step.order
    if order.status is not Status.ON_HOLD:
        return
    needs = [Need(line_id, line.sku, line.quantity) for line_id, line in order.lines.items()]
    _plan_round(step, needs, network)
    allocated, backordered = _line_counts(order)
    transition = lifecycle.hold_ended(order.status, allocated, backordered)
    order.stamps["allocated_at"] = step.at
    order.stamps["ship_by_at"] = step.at + step.rules.ship_by_sla
    order.timers[SHIP_BY] = order.stamps["ship_by_at"]
    step.record("Allocated", transition)


def _plan_round(step: Step, needs: list[Need], network: Network) -> None:
    order = step.order
    order.rounds += 1
    available: dict[tuple[str, str], int] = {}
    for sku in {need.sku for need in needs}:
        for location_id, units in network.available(sku).items():
            hint = order.hints.get(f"{sku}@{location_id}")
            available[(sku, location_id)] = units if hint is None else min(units, hint)
    for assignment in plan(needs, order.destination, network.sites, available):
        if assignment.location_id is None:
            _backorder(step, assignment.line_id, assignment.quantity)
        else:
            command_id = step.command(
                "reserve", assignment.line_id, assignment.location_id, assignment.quantity
            )
            order.pending[command_id] = [
                assignment.line_id,
                assignment.location_id,
                assignment.quantity,
            ]


def _backorder(step: Step, line_id: str, units: int) -> None:
    step.command("backorder", line_id, BACKORDER, units)
    step.move(line_id, BACKORDER, BACKORDERED, units)


# --- replies from the SKU owners -------------------------------------------------------------
def on_reply(step: Step, reply: dict, network: Network) -> None:
    order = step.order
    line_id, location_id, units = reply["line_id"], reply["location_id"], reply["quantity"]
    sku = order.lines[line_id].sku
    if reply["action"] == "reserve":
        if order.pending.pop(reply["command_id"], None) is not None:
            if reply["granted"]:
                _take(step, line_id, location_id, units)
            else:
                order.replan[line_id] = order.replan.get(line_id, 0) + units
                order.hints[f"{sku}@{location_id}"] = max(reply["available_after"], 0)
        elif reply["granted"]:  # the SKU owner filled a backorder
            filled = min(units, order.backordered(line_id)) if _active(order) else 0
            step.move(line_id, BACKORDER, BACKORDERED, -filled)
            step.move(line_id, BACKORDER, FILLED, filled)
            _take(step, line_id, location_id, units)
    elif reply["action"] == "revoke" and order.status in lifecycle.RELEASED:
        revoked = min(units, order.count(line_id, location_id, RESERVED))
        step.release(line_id, location_id, revoked)
        if revoked:
            order.replan[line_id] = order.replan.get(line_id, 0) + revoked
            order.hints[f"{sku}@{location_id}"] = 0
    if not order.pending and order.replan:
        _replan(step, network)
    _restatus(step, "Reallocated")


def _active(order: Order) -> bool:
    return order.status is not Status.CANCELLED


def _take(step: Step, line_id: str, location_id: str, units: int) -> None:
    """Units granted at a location: kept if the line still needs them, else given back."""
    order = step.order
    line = order.lines[line_id]
    held = order.line_total(line_id, RESERVED) + order.line_total(line_id, SHIPPED)
    wanted = line.quantity - held - order.in_flight(line_id) - order.backordered(line_id)
    kept = max(0, min(units, wanted)) if _active(order) else 0
    step.move(line_id, location_id, RESERVED, units)
    step.release(line_id, location_id, units - kept)


def _replan(step: Step, network: Network) -> None:
    order = step.order
    needs = [Need(line, order.lines[line].sku, units) for line, units in order.replan.items()]
    order.replan.clear()
    if order.rounds < step.rules.allocation_attempts:
        _plan_round(step, needs, network)
    else:
        for need in needs:
            _backorder(step, need.line_id, need.quantity)
    if not order.pending:
        order.hints.clear()


def _restatus(step: Step, kind: str) -> None:
    transition = lifecycle.reallocated(step.order.status, *_line_counts(step.order))
    if transition.changed:
        step.record(kind, transition)


def _line_counts(order: Order) -> tuple[int, int]:
    """(lines with units reserved, shipped or in flight; lines with units backordered)."""
    allocated = sum(
        1
        for line_id in order.lines
        if order.line_total(line_id, RESERVED)
        or order.line_total(line_id, SHIPPED)
        or order.in_flight(line_id)
    )
    backordered = sum(1 for line_id in order.lines if order.backordered(line_id))
    return allocated, backordered


# --- fulfillment -----------------------------------------------------------------------------
def fulfil(step: Step, event_type: str, record: dict, network: Network) -> None:
    """OrderPicked, OrderPacked or ShipmentCreated."""
    order = step.order
    transition = lifecycle.fact(order.status, event_type)
    unknown = [x["line_id"] for x in record.get("lines", ()) if x["line_id"] not in order.lines]
    if unknown:
        raise ImpossibleTransition(f"{event_type} names lines the order does not have: {unknown}")
    order.stamps.setdefault(_STAMP_OF[event_type], step.at)
    if event_type == "ShipmentCreated":
        _ship(step, record, network)
    step.record(event_type, transition, record["location_id"])


_STAMP_OF = {
    "OrderPicked": "picked_at",
    "OrderPacked": "packed_at",
    "ShipmentCreated": "shipped_at",
}


def _ship(step: Step, record: dict, network: Network) -> None:
    order = step.order
    location_id = record["location_id"]
    for shipped in record["lines"]:
        line_id, units = shipped["line_id"], shipped["quantity"]
        step.command("consume", line_id, location_id, units)
        step.move(
            line_id, location_id, RESERVED, -min(units, order.count(line_id, location_id, RESERVED))
        )
        step.move(line_id, location_id, SHIPPED, units)
        if order.line_total(line_id, SHIPPED) >= order.lines[line_id].quantity:
            step.withdraw(line_id, FILLED)
            for other_line, other_location, held in order.reserved_at():
                if other_line == line_id:
                    step.release(line_id, other_location, held)
    origin = network.origins.get(location_id, {})
    tracking_url = step.rules.tracking_url(record["carrier"], record["tracking_number"])
    shipment = {
        "event_id": record["event_id"],
        "shipment_id": record["shipment_id"],
        "order_id": order.order_id,
        "location_id": location_id,
        "carrier": record["carrier"],
        "service": record["service"],
        "tracking_number": record["tracking_number"],
        "shipped_at": step.at,
        "promised_delivery_date": order.promised_delivery_date,
        "origin_country": origin.get("country", ""),
        "origin_postal_code": origin.get("postal_code", ""),
        "shipping_country": order.shipping["country"],
        "shipping_region": order.shipping["region"],
        "tracking_url": tracking_url,
        "lines": [{k: x[k] for k in ("line_id", "sku", "quantity")} for x in record["lines"]],
    }
    order.shipments[record["shipment_id"]] = {
        k: shipment[k] for k in ("shipment_id", "location_id", "carrier", "tracking_number")
    }
    step.effects.shipments.append(shipment)
    order.timers.pop(SHIP_BY, None)
    _resolve_late_shipment(step)
    details = {
        **_order_details(order),
        "carrier": record["carrier"],
        "service": record["service"],
        "tracking_number": record["tracking_number"],
        "shipment_id": record["shipment_id"],
        "tracking_url": tracking_url,
    }
    step.notify("shipping_confirmation", record["shipment_id"], step.at, details)


def _resolve_late_shipment(step: Step) -> None:
    opened_at = step.order.exceptions.pop(LATE_SHIPMENT, None)
    if opened_at is not None:
        step.exception(LATE_SHIPMENT, opened_at, True, "shipped after its ship-by time")


# --- carrier progress (fed by tracking) ------------------------------------------------------
def parcel_progress(step: Step, record: dict) -> None:
    """A ShipmentStatus from tracking: the order follows its parcels (out for delivery when
    one is, delivered when every parcel is delivered and nothing is left to ship), and the
    customer hears of each delivery exception that opened."""
    order = step.order
    parcel = order.shipments.setdefault(record["shipment_id"], {})
    parcel["status"] = record["status"]
    parcel["delivered_at"] = record["delivered_at"] and to_ms(record["delivered_at"])
    for kind in record["opened_exceptions"]:
        details = {
            **_order_details(order),
            "exception_kind": kind,
            "carrier": record["carrier"],
            "tracking_number": record["tracking_number"],
            "tracking_url": step.rules.tracking_url(record["carrier"], record["tracking_number"]),
        }
        key = f"{record['tracking_number']}/{kind}/{record['update_id']}"
        step.notify("delivery_exception", key, step.at, details)
    if order.status not in (Status.SHIPPED, Status.OUT_FOR_DELIVERY):
        return  # a parcel of an order not yet shipped in full, or already delivered
    delivered = [p.get("delivered_at") for p in order.shipments.values()]
    waiting = any(
        order.line_total(line, RESERVED) or order.backordered(line) for line in order.lines
    )
    if all(delivered) and not waiting:
        carrier_status(step, "delivered", from_ms(max(delivered)))
    elif record["status"] == "out_for_delivery":
        carrier_status(step, "out_for_delivery")


def carrier_status(step: Step, status: str, at: datetime | None = None) -> None:
    """out_for_delivery or delivered (every shipment delivered); delivery schedules the
    follow-up notification."""
    order = step.order
    transition = lifecycle.fact(order.status, status)
    if status == "delivered" and transition.changed:
        order.stamps["delivered_at"] = at or step.at
        order.timers[FOLLOW_UP] = order.stamps["delivered_at"] + step.rules.follow_up_after
    if transition.changed:
        step.record(status, transition)


def _order_details(order: Order) -> dict[str, str]:
    promised = order.promised_delivery_date
    return {
        "order_total": order.order_total,
        "currency": order.currency,
        "line_count": str(len(order.lines)),
        "lines": "\n".join(f"{x.quantity} x {x.sku}" for x in order.lines.values()),
        "promised_delivery_date": promised.isoformat() if promised else "",
    }
