"""One order's state as the order partition keeps it: pure data, stored as one table value.

The whole order (lines, where each line's units stand, reservations in flight, timers,
stage times) is one value, so a change is never half applied, and the source offsets
applied to it make a message read again after a crash change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from schemas.canonical import from_ms, to_ms
from streams.applied import AppliedOffsets
from streams.orders.lifecycle import Status

# Units of an order line at one location, by state. The backorder is location "".
RESERVED, SHIPPED, RELEASED, BACKORDERED, FILLED = (
    "reserved",
    "shipped",
    "released",
    "backordered",
    "filled",
)
BACKORDER = ""


@dataclass
class Line:
    sku: str
    quantity: int
    unit_price: str  # decimal text


@dataclass
class Order(AppliedOffsets):
    order_id: str
    partition: int  # the order partition that owns it (its timers fire there)
    status: Status
    channel: str
    currency: str
    order_total: str  # decimal text
    shipping_method: str
    promised_delivery_date: date | None
    destination: tuple[float, float]
    shipping: dict[str, str]  # country, region, city (no street, no name)
    customer_key: str
    recipient: dict[str, str]  # email, name: for notifications only, never for analytics
    lines: dict[str, Line]
    # line_id -> location_id -> state -> units (location "" holds backordered / filled)
    units: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    pending: dict[str, list] = field(default_factory=dict)  # reserve command id -> line, loc, n
    replan: dict[str, int] = field(default_factory=dict)  # line_id -> refused units
    hints: dict[str, int] = field(default_factory=dict)  # "sku@loc" -> available, from replies
    rounds: int = 0  # allocation rounds run: part of every command id
    stamps: dict[str, datetime] = field(default_factory=dict)  # placed_at, hold_until, ...
    timers: dict[str, datetime] = field(default_factory=dict)  # kind -> due (event time)
    exceptions: dict[str, datetime] = field(default_factory=dict)  # open kind -> opened_at
    shipments: dict[str, dict] = field(default_factory=dict)  # shipment_id -> details
    cancel_reason: str = ""
    version: int = 0  # of the order's rows: one more per step that changed it
    # "line_id/location_id" -> version of that allocation row: one more per change to it,
    # so it does not depend on the order in which other lines' replies came back
    row_versions: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> offset
    outbox: dict[str, list[list[str]]] = field(default_factory=dict)  # streams/applied.py

    # --- units ---------------------------------------------------------------------------
    def at(self, line_id: str, location_id: str) -> dict[str, int]:
        return self.units.setdefault(line_id, {}).setdefault(location_id, {})

    def count(self, line_id: str, location_id: str, state: str) -> int:
        return self.units.get(line_id, {}).get(location_id, {}).get(state, 0)

    def add(self, line_id: str, location_id: str, state: str, delta: int) -> None:
        held = self.at(line_id, location_id)
        held[state] = held.get(state, 0) + delta

    def line_total(self, line_id: str, state: str) -> int:
        return sum(by_state.get(state, 0) for by_state in self.units.get(line_id, {}).values())

    def in_flight(self, line_id: str) -> int:
        return sum(n for line, _, n in self.pending.values() if line == line_id)

    def backordered(self, line_id: str) -> int:
        return self.count(line_id, BACKORDER, BACKORDERED)

    def reserved_at(self) -> list[tuple[str, str, int]]:
        """(line_id, location_id, units) still reserved."""
        return [
            (line_id, location_id, by_state[RESERVED])
            for line_id, by_location in self.units.items()
            for location_id, by_state in by_location.items()
            if by_state.get(RESERVED)
        ]

    # --- stored form ---------------------------------------------------------------------
    def as_dict(self) -> dict:
        return {
            "order_id": self.order_id,
            "partition": self.partition,
            "status": self.status.value,
            "channel": self.channel,
            "currency": self.currency,
            "order_total": self.order_total,
            "shipping_method": self.shipping_method,
            "promised_delivery_date": self.promised_delivery_date
            and self.promised_delivery_date.isoformat(),
            "destination": list(self.destination),
            "shipping": self.shipping,
            "customer_key": self.customer_key,
            "recipient": self.recipient,
            "lines": {k: [v.sku, v.quantity, v.unit_price] for k, v in self.lines.items()},
            "units": self.units,
            "pending": self.pending,
            "replan": self.replan,
            "hints": self.hints,
            "rounds": self.rounds,
            "stamps": {k: to_ms(v) for k, v in self.stamps.items()},
            "timers": {k: to_ms(v) for k, v in self.timers.items()},
            "exceptions": {k: to_ms(v) for k, v in self.exceptions.items()},
            "shipments": self.shipments,
            "cancel_reason": self.cancel_reason,
            "version": self.version,
            "row_versions": self.row_versions,
            "applied": self.applied,
            "outbox": self.outbox,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Order:
        promised = data["promised_delivery_date"]
        return cls(
            order_id=data["order_id"],
            partition=data["partition"],
            status=Status(data["status"]),
            channel=data["channel"],
            currency=data["currency"],
            order_total=data["order_total"],
            shipping_method=data["shipping_method"],
            promised_delivery_date=date.fromisoformat(promised) if promised else None,
            destination=tuple(data["destination"]),
            shipping=dict(data["shipping"]),
            customer_key=data["customer_key"],
            recipient=dict(data["recipient"]),
            lines={k: Line(*v) for k, v in data["lines"].items()},
            units={
                line: {loc: dict(states) for loc, states in by_loc.items()}
                for line, by_loc in data["units"].items()
            },
            pending={k: list(v) for k, v in data["pending"].items()},
            replan=dict(data["replan"]),
            hints=dict(data["hints"]),
            rounds=data["rounds"],
            stamps={k: from_ms(v) for k, v in data["stamps"].items()},
            timers={k: from_ms(v) for k, v in data["timers"].items()},
            exceptions={k: from_ms(v) for k, v in data["exceptions"].items()},
            shipments={k: dict(v) for k, v in data["shipments"].items()},
            cancel_reason=data["cancel_reason"],
            version=data["version"],
            row_versions=dict(data.get("row_versions", {})),
            applied=dict(data["applied"]),
            outbox={key: [list(r) for r in recs] for key, recs in data["outbox"].items()},
        )
