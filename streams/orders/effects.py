"""What a decision about an order produces, as records for the derived topics. Pure.

A Step is one message's worth of change to one order: the decisions call it to move units,
issue stock commands, change status, notify and open exceptions; `finish` returns the
records to publish. Every id is derived from the order and the cause, so running a step
again (a message read again after a crash) produces the same records, which downstream
de-duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from streams.orders.lifecycle import Status, Transition
from streams.orders.order import (
    BACKORDER,
    BACKORDERED,
    FILLED,
    RELEASED,
    RESERVED,
    SHIPPED,
    Order,
)

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/oms-stream")


def derived_id(*parts: str) -> str:
    """A UUID that is the same every time for the same parts."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


@dataclass(frozen=True)
class Rules:
    fraud_hold: timedelta
    ship_by_sla: timedelta
    follow_up_after: timedelta
    allocation_attempts: int
    tracking_url: Callable[[str, str], str]  # (carrier, tracking number) -> URL or ""
    customer_key: Callable[[str], str]  # customer id -> keyed hash


@dataclass
class Effects:
    commands: list[dict] = field(default_factory=list)  # StockCommand, keyed by sku
    updates: list[dict] = field(default_factory=list)  # OrderUpdate
    allocations: list[dict] = field(default_factory=list)  # OrderAllocation
    notifications: list[dict] = field(default_factory=list)  # Notification
    exceptions: list[dict] = field(default_factory=list)  # DeliveryException
    shipments: list[dict] = field(default_factory=list)  # ShipmentRecorded
    backordered_lines: int = 0  # lines that started waiting for stock minus those that stopped


class Step:
    def __init__(self, order: Order, at: datetime, cause: str, rules: Rules) -> None:
        self.order = order
        self.at = at
        self.cause = cause  # a UUID: the input event, the reply, or the timer's derived id
        self.rules = rules
        self.effects = Effects()
        self._touched: dict[tuple[str, str], None] = {}

    # --- units and stock commands --------------------------------------------------------
    def move(self, line_id: str, location_id: str, state: str, delta: int) -> None:
        if delta:
            waiting = bool(self.order.backordered(line_id))
            self.order.add(line_id, location_id, state, delta)
            self._touched[(line_id, location_id)] = None
            self.effects.backordered_lines += bool(self.order.backordered(line_id)) - waiting

    def command(self, action: str, line_id: str, location_id: str, quantity: int) -> str:
        order = self.order
        command_id = derived_id(order.order_id, self.cause, action, line_id, location_id)
        self.effects.commands.append(
            {
                "command_id": command_id,
                "occurred_at": self.at,
                "action": action,
                "sku": order.lines[line_id].sku,
                "location_id": location_id,
                "order_id": order.order_id,
                "line_id": line_id,
                "quantity": quantity,
            }
        )
        return command_id

    def release(self, line_id: str, location_id: str, quantity: int, state: str = RELEASED):
        """Gives back units reserved for the line at a location."""
        if quantity:
            self.command("release", line_id, location_id, quantity)
            self.move(line_id, location_id, RESERVED, -quantity)
            self.move(line_id, location_id, state, quantity)

    def withdraw(self, line_id: str, state: str) -> None:
        """The line stops waiting for stock."""
        waiting = self.order.backordered(line_id)
        if waiting:
            self.command("withdraw", line_id, BACKORDER, waiting)
            self.move(line_id, BACKORDER, BACKORDERED, -waiting)
            self.move(line_id, BACKORDER, state, waiting)

    # --- status, notifications, exceptions -----------------------------------------------
    def record(self, kind: str, transition: Transition, location_id: str = "") -> None:
        """Publishes a lifecycle change (or a repeated fact, with the status unchanged)."""
        order = self.order
        order.status = transition.after
        order.version += 1
        n = len(self.effects.updates)
        self.effects.updates.append(
            _update(order, kind, derived_id(self.cause, str(n)) if n else self.cause, transition)
            | {"occurred_at": self.at, "location_id": location_id}
        )

    def notify(self, kind: str, key: str, due_at: datetime, details: dict[str, str]) -> None:
        order = self.order
        self.effects.notifications.append(
            {
                "notification_id": derived_id(order.order_id, kind, key),
                "kind": kind,
                "order_id": order.order_id,
                "occurred_at": self.at,
                "due_at": due_at,
                "recipient_email": order.recipient["email"],
                "recipient_name": order.recipient["name"],
                "recipient_key": order.customer_key,
                "tracking_url": details.get("tracking_url", ""),
                "details": details,
            }
        )

    def exception(self, kind: str, opened_at: datetime, resolved: bool, detail: str) -> None:
        order = self.order
        shipment = next(iter(order.shipments.values()), {})
        self.effects.exceptions.append(
            {
                "exception_id": derived_id(order.order_id, kind, str(opened_at.timestamp())),
                "kind": kind,
                "state": "resolved" if resolved else "opened",
                "severity": "warning",
                "tracking_number": shipment.get("tracking_number", ""),
                "shipment_id": shipment.get("shipment_id", ""),
                "order_id": order.order_id,
                "carrier": shipment.get("carrier", ""),
                "status_detail": "",
                "carrier_code": "",
                "detail": detail,
                "region": order.shipping["region"],
                "origin_location_id": shipment.get("location_id", _origin(order)),
                "opened_at": opened_at,
                "resolved_at": self.at if resolved else None,
                "occurred_at": self.at,
                "version": order.version + 1,
            }
        )

    def finish(self) -> Effects:
        """The records of this step; each allocation row carries its own next version."""
        order = self.order
        if self._touched:
            order.version += 1
        for line_id, location_id in self._touched:
            quantity, state = _allocation_state(order, line_id, location_id)
            row = f"{line_id}/{location_id}"
            order.row_versions[row] = order.row_versions.get(row, 0) + 1
            self.effects.allocations.append(
                {
                    "order_id": order.order_id,
                    "line_id": line_id,
                    "sku": order.lines[line_id].sku,
                    "location_id": location_id,
                    "quantity": quantity,
                    "state": state,
                    "occurred_at": self.at,
                    "version": order.row_versions[row],
                }
            )
        return self.effects


def _origin(order: Order) -> str:
    """The first location holding units for the order, or ''."""
    return next((loc for _, loc, _ in order.reserved_at()), "")


def _allocation_state(order: Order, line_id: str, location_id: str) -> tuple[int, str]:
    """The row for a line at a location: the units and the state that describes them."""

    def count(state: str) -> int:
        return order.count(line_id, location_id, state)

    if count(BACKORDERED):
        return count(BACKORDERED), BACKORDERED
    if location_id == BACKORDER and count(FILLED):
        return count(FILLED), FILLED
    if count(RESERVED):
        return count(RESERVED) + count(SHIPPED), RESERVED
    if count(SHIPPED):
        return count(SHIPPED), SHIPPED
    return count(RELEASED), RELEASED


_STAMPS = (
    "allocated_at",
    "picked_at",
    "packed_at",
    "shipped_at",
    "delivered_at",
    "cancelled_at",
    "ship_by_at",
)


def _update(order: Order, kind: str, event_id: str, transition: Transition) -> dict:
    before = transition.before
    return {
        "event_id": event_id,
        "order_id": order.order_id,
        "type": kind,
        "status": order.status.value,
        "previous_status": before.value if isinstance(before, Status) else "",
        "version": order.version,
        "channel": order.channel,
        "placed_at": order.stamps["placed_at"],
        "hold_until": order.stamps["hold_until"],
        **{name: order.stamps.get(name) for name in _STAMPS},
        "cancel_reason": order.cancel_reason,
        "promised_delivery_date": order.promised_delivery_date,
        "shipping_country": order.shipping["country"],
        "shipping_region": order.shipping["region"],
        "shipping_city": order.shipping["city"],
        "shipping_method": order.shipping_method,
        "line_count": len(order.lines),
        "order_total": Decimal(order.order_total),
        "currency": order.currency,
        "customer_key": order.customer_key,
    }
