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

from streams.applied import AppliedOffsets


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
class SkuStock(AppliedOffsets):
    sku: str
    positions: dict[str, Position] = field(default_factory=dict)
    reservations: dict[str, int] = field(default_factory=dict)  # Reservation.key -> quantity
    version: int = 0  # bumped by every change: the ClickHouse row version of its levels
    applied: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> last offset
    low: set[str] = field(default_factory=set)  # locations signalled as low on stock
    out: bool = False  # signalled as out of stock at every shipping location
    # backordered lines waiting for stock: "order/line/" -> [rank (epoch ms), quantity]
    waiting: dict[str, list[int]] = field(default_factory=dict)
    outbox: dict[str, list[list[str]]] = field(default_factory=dict)  # see streams/applied.py

    def position(self, location_id: str) -> Position:
        return self.positions.get(location_id, Position())

    def total(self) -> Position:
        return Position(
            sum(p.on_hand for p in self.positions.values()),
            sum(p.reserved for p in self.positions.values()),
        )

    def as_dict(self) -> dict:
        return {
            "sku": self.sku,
            "positions": {loc: [p.on_hand, p.reserved] for loc, p in self.positions.items()},
            "reservations": dict(self.reservations),
            "version": self.version,
            "low": sorted(self.low),
            "out": self.out,
            "applied": dict(self.applied),
            "waiting": {key: list(entry) for key, entry in self.waiting.items()},
            "outbox": {key: [list(r) for r in records] for key, records in self.outbox.items()},
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
            waiting={key: list(entry) for key, entry in data.get("waiting", {}).items()},
            outbox={key: [list(r) for r in recs] for key, recs in data.get("outbox", {}).items()},
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
    """Returns (change, granted).

    reserve: granted only when it fits; a reserve never over-commits.
    release: gives back what the line holds there, up to the quantity (nothing held: not
        granted, nothing changes: a release can cross a refused reserve's reply).
    consume: a shipment is a physical fact: the line's reservation there is used first and
        any remainder leaves on hand unreserved (which may oversell the location).
    backorder: the line waits for stock, ranked by the command's time (oldest first);
        fill_backorders reserves for it when stock arrives.
    withdraw: the line stops waiting.
    """
    if command.quantity <= 0:
        raise LedgerError(f"quantity must be > 0, got {command.quantity}")
    handler = _COMMANDS.get(command.action)
    if handler is None:
        raise LedgerError(f"unknown stock command {command.action!r}")
    change = Change()
    return change, handler(stock, command, change)


def _reserve(stock: SkuStock, command: StockCommand, change: Change) -> bool:
    location = command.reservation.location_id
    if stock.position(location).available < command.quantity:
        return False
    _hold(
        stock,
        change,
        command.command_id,
        command.occurred_at,
        command.reservation,
        command.quantity,
    )
    return True


def _hold(
    stock: SkuStock,
    change: Change,
    cause_id: str,
    at: datetime,
    reservation: Reservation,
    quantity: int,
) -> None:
    stock.reservations[reservation.key] = stock.reservations.get(reservation.key, 0) + quantity
    _move(
        stock,
        change,
        cause_id,
        at,
        reservation.location_id,
        reserved_delta=quantity,
        reason="reserved",
        order_id=reservation.order_id,
    )


def _take_held(stock: SkuStock, reservation: Reservation, quantity: int) -> int:
    held = stock.reservations.get(reservation.key, 0)
    taken = min(held, quantity)
    if held - taken:
        stock.reservations[reservation.key] = held - taken
    else:
        stock.reservations.pop(reservation.key, None)
    return taken


def _release(stock: SkuStock, command: StockCommand, change: Change) -> bool:
    released = _take_held(stock, command.reservation, command.quantity)
    if released:
        _move(
            stock,
            change,
            command.command_id,
            command.occurred_at,
            command.reservation.location_id,
            reserved_delta=-released,
            reason="released",
            order_id=command.reservation.order_id,
        )
    return bool(released)


def _consume(stock: SkuStock, command: StockCommand, change: Change) -> bool:
    held = _take_held(stock, command.reservation, command.quantity)
    _move(
        stock,
        change,
        command.command_id,
        command.occurred_at,
        command.reservation.location_id,
        on_hand_delta=-command.quantity,
        reserved_delta=-held,
        reason="shipped",
        order_id=command.reservation.order_id,
    )
    return True


def _backorder(stock: SkuStock, command: StockCommand, change: Change) -> bool:
    key = _waiting_key(command.reservation)
    rank = int(command.occurred_at.timestamp() * 1000)
    waiting = stock.waiting.get(key)
    stock.waiting[key] = (
        [min(rank, waiting[0]), waiting[1] + command.quantity]
        if waiting
        else [rank, command.quantity]
    )
    return True


def _withdraw(stock: SkuStock, command: StockCommand, change: Change) -> bool:
    return stock.waiting.pop(_waiting_key(command.reservation), None) is not None


def _waiting_key(reservation: Reservation) -> str:
    return Reservation(reservation.order_id, reservation.line_id, "").key


_COMMANDS = {
    "reserve": _reserve,
    "release": _release,
    "consume": _consume,
    "backorder": _backorder,
    "withdraw": _withdraw,
}


def fill_backorders(
    stock: SkuStock, change: Change, shipping_locations: set[str], cause_id: str, at: datetime
) -> list[tuple[Reservation, int]]:
    """Reserves stock for waiting lines, oldest first, at the shipping locations the change
    touched that now have units available. Returns the reservations made (the orders are
    told); their movements join the change."""
    touched = [m.location_id for m in change.movements if m.location_id in shipping_locations]
    grants: list[tuple[Reservation, int]] = []
    for location in dict.fromkeys(touched):
        for key, (rank, quantity) in sorted(stock.waiting.items(), key=lambda kv: kv[1][0]):
            available = stock.position(location).available
            if available <= 0:
                break
            taken = min(available, quantity)
            waiting = Reservation.from_key(key)
            reservation = Reservation(waiting.order_id, waiting.line_id, location)
            _hold(stock, change, cause_id, at, reservation, taken)
            grants.append((reservation, taken))
            if quantity - taken:
                stock.waiting[key] = [rank, quantity - taken]
            else:
                del stock.waiting[key]
    return grants


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
            m.on_hand_delta < m.reserved_delta  # on hand fell by more than was held
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
