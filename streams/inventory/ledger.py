"""The stock ledger of one SKU across its locations: pure rules, no Kafka.

Every change of stock is a Movement (on-hand delta, reserved delta, why, for which order),
so the stock of any SKU and location is the sum of its movements. The partition that owns a
SKU owns its SkuStock: one value holding every location's position, the open reservations
and how far each source partition has been applied, written as one table record, so a
change is never half applied and a message read again after a crash is never applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class LedgerError(ValueError):
    """A command the ledger refuses as impossible (goes to the dead-letter topic)."""


@dataclass(frozen=True)
class Position:
    on_hand: int = 0
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Movement:
    movement_id: str
    event_id: str
    sku: str
    location_id: str
    on_hand_delta: int
    reserved_delta: int
    reason: str
    order_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class Reservation:
    order_id: str
    line_id: str
    location_id: str

    @property
    def key(self) -> str:
        return f"{self.order_id}/{self.line_id}/{self.location_id}"

    @classmethod
    def from_key(cls, key: str) -> Reservation:
        order_id, line_id, location_id = key.rsplit("/", 2)
        return cls(order_id, line_id, location_id)


@dataclass
class SkuStock:
    sku: str
    positions: dict[str, Position] = field(default_factory=dict)
    reservations: dict[str, int] = field(default_factory=dict)  # Reservation.key -> quantity
    version: int = 0  # bumped by every change: the ClickHouse row version of its levels
    applied: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> last offset
    low: set[str] = field(default_factory=set)  # locations signalled as low on stock
    out: bool = False  # signalled as out of stock at every shipping location

    def position(self, location_id: str) -> Position:
        return self.positions.get(location_id, Position())

    def total(self) -> Position:
        return Position(
            sum(p.on_hand for p in self.positions.values()),
            sum(p.reserved for p in self.positions.values()),
        )

    def already_applied(self, source: str, offset: int) -> bool:
        """True for a message read again after a crash: its change is in this value."""
        return offset <= self.applied.get(source, -1)

    def mark_applied(self, source: str, offset: int) -> None:
        self.applied[source] = offset

    def as_dict(self) -> dict:
        return {
            "sku": self.sku,
            "positions": {loc: [p.on_hand, p.reserved] for loc, p in self.positions.items()},
            "reservations": dict(self.reservations),
            "version": self.version,
            "low": sorted(self.low),
            "out": self.out,
            "applied": dict(self.applied),
        }

    @classmethod
    def from_dict(cls, data: dict) -> SkuStock:
        return cls(
            sku=data["sku"],
            positions={loc: Position(*p) for loc, p in data["positions"].items()},
            reservations=dict(data["reservations"]),
            version=data["version"],
            low=set(data["low"]),
            out=data["out"],
            applied=dict(data.get("applied", {})),
        )


@dataclass
class Change:
    """What applying one event or command did: the movements, in order."""

    movements: list[Movement] = field(default_factory=list)


def _move(
    stock: SkuStock,
    change: Change,
    event_id: str,
    occurred_at: datetime,
    location_id: str,
    on_hand_delta: int = 0,
    reserved_delta: int = 0,
    reason: str = "",
    order_id: str = "",
) -> None:
    before = stock.position(location_id)
    stock.positions[location_id] = Position(
        before.on_hand + on_hand_delta, before.reserved + reserved_delta
    )
    stock.version += 1
    change.movements.append(
        Movement(
            movement_id=f"{event_id}/{len(change.movements)}",
            event_id=event_id,
            sku=stock.sku,
            location_id=location_id,
            on_hand_delta=on_hand_delta,
            reserved_delta=reserved_delta,
            reason=reason,
            order_id=order_id,
            occurred_at=occurred_at,
        )
    )


def apply_inventory_event(stock: SkuStock, event_type: str, r: dict) -> Change:
    """InventoryReceived / Adjusted / Counted / Transferred, per events.md's stock semantics."""
    change = Change()
    at, event_id = r["occurred_at"], r["event_id"]
    if event_type == "InventoryReceived":
        _move(
            stock,
            change,
            event_id,
            at,
            r["location_id"],
            r["quantity"],
            reason=f"received {r.get('reference') or ''}".strip(),
        )
    elif event_type == "InventoryAdjusted":
        _move(stock, change, event_id, at, r["location_id"], r["delta"], reason=r["reason"])
    elif event_type == "InventoryCounted":
        delta = r["counted_on_hand"] - stock.position(r["location_id"]).on_hand
        if delta:
            _move(stock, change, event_id, at, r["location_id"], delta, reason="counted")
    elif event_type == "InventoryTransferred":
        _move(
            stock,
            change,
            event_id,
            at,
            r["from_location_id"],
            -r["quantity"],
            reason="transfer out",
        )
        _move(stock, change, event_id, at, r["to_location_id"], r["quantity"], reason="transfer in")
    else:
        raise LedgerError(f"{event_type} is not an inventory event")
    return change


@dataclass(frozen=True)
class StockCommand:
    """reserve / release / consume N units at a location for an order line."""

    command_id: str
    action: str
    sku: str
    reservation: Reservation
    quantity: int
    occurred_at: datetime


def apply_command(stock: SkuStock, command: StockCommand) -> tuple[Change, bool]:
    """Returns (change, granted). A reserve that does not fit is refused, not over-committed;
    a release or consume of more than is reserved for that line raises LedgerError."""
    change = Change()
    held = stock.reservations.get(command.reservation.key, 0)
    location = command.reservation.location_id
    if command.quantity <= 0:
        raise LedgerError(f"quantity must be > 0, got {command.quantity}")
    if command.action == "reserve":
        if stock.position(location).available < command.quantity:
            return change, False
        stock.reservations[command.reservation.key] = held + command.quantity
        _move(
            stock,
            change,
            command.command_id,
            command.occurred_at,
            location,
            reserved_delta=command.quantity,
            reason="reserved",
            order_id=command.reservation.order_id,
        )
        return change, True
    if command.action not in ("release", "consume"):
        raise LedgerError(f"unknown stock command {command.action!r}")
    if command.quantity > held:
        raise LedgerError(
            f"cannot {command.action} {command.quantity} of {stock.sku} at {location} for "
            f"{command.reservation.key}: {held} reserved"
        )
    if held == command.quantity:
        del stock.reservations[command.reservation.key]
    else:
        stock.reservations[command.reservation.key] = held - command.quantity
    shipped = command.action == "consume"
    _move(
        stock,
        change,
        command.command_id,
        command.occurred_at,
        location,
        on_hand_delta=-command.quantity if shipped else 0,
        reserved_delta=-command.quantity,
        reason="shipped" if shipped else "released",
        order_id=command.reservation.order_id,
    )
    return change, True


def oversold_reservations(stock: SkuStock, location_id: str) -> list[tuple[Reservation, int]]:
    """Where on hand fell below reserved: the reservations, newest first, that no longer fit.

    Releasing them, newest first, until reserved <= on hand, would make the position whole;
    they are published so that orders can be re-planned.
    """
    position = stock.position(location_id)
    excess = position.reserved - max(position.on_hand, 0)
    affected = []
    for key, quantity in reversed(list(stock.reservations.items())):
        if excess <= 0:
            break
        reservation = Reservation.from_key(key)
        if reservation.location_id == location_id:
            affected.append((reservation, quantity))
            excess -= quantity
    return affected


@dataclass(frozen=True)
class Signal:
    kind: str  # low_stock | stock_out | oversold
    sku: str
    location_id: str  # "" for stock_out, which is about every shipping location
    available: int
    reservations: tuple[tuple[Reservation, int], ...] = ()


def signals_after(
    stock: SkuStock, change: Change, reorder_point: int, shipping_locations: set[str]
) -> list[Signal]:
    """Signals raised by a change, each once when its condition starts (and re-armed when it
    ends): low stock at a location, stock-out across shipping locations, oversold."""
    signals = []
    for location in dict.fromkeys(m.location_id for m in change.movements):
        position = stock.position(location)
        if position.reserved > max(position.on_hand, 0) and any(
            m.on_hand_delta < 0 and m.reserved_delta == 0
            for m in change.movements
            if m.location_id == location
        ):
            affected = tuple(oversold_reservations(stock, location))
            signals.append(Signal("oversold", stock.sku, location, position.available, affected))
        if position.available <= reorder_point and location not in stock.low:
            stock.low.add(location)
            signals.append(Signal("low_stock", stock.sku, location, position.available))
        elif position.available > reorder_point:
            stock.low.discard(location)
    shipping = [stock.position(loc).available for loc in shipping_locations & set(stock.positions)]
    out = not shipping or max(shipping) <= 0
    if out and not stock.out and shipping:
        signals.append(Signal("stock_out", stock.sku, "", max(shipping)))
    stock.out = out and bool(shipping)
    return signals
