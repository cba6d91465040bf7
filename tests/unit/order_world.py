"""A whole order network in memory: the order decisions and the SKU ledgers wired together
the way the worker wires them through Kafka, minus Kafka. Commands and replies queue up and
are delivered when the test says so, so races (two orders planning on the same snapshot)
can be staged exactly."""

from __future__ import annotations

import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from streams.inventory.ledger import (
    Reservation,
    SkuStock,
    StockCommand,
    apply_command,
    apply_inventory_event,
    fill_backorders,
    signals_after,
)
from streams.orders import decisions
from streams.orders.allocation import Site
from streams.orders.effects import Effects, Rules, Step
from streams.orders.order import Order

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

RULES = Rules(
    fraud_hold=timedelta(hours=1),
    ship_by_sla=timedelta(hours=24),
    follow_up_after=timedelta(days=3),
    allocation_attempts=3,
    tracking_url=lambda carrier, number: f"https://track.example/{carrier}/{number}",
    customer_key=lambda customer_id: f"key-{customer_id}",
)

# Sites around the eastern US; the customer in tests lives in New York unless told otherwise.
NEWARK = Site("NEWARK", 40.73, -74.17)
PHILLY = Site("PHILLY", 39.95, -75.17)
CHICAGO = Site("CHICAGO", 41.88, -87.63)
RENO = Site("RENO", 39.53, -119.81)
MANHATTAN_STORE = Site("MANHATTAN-STORE", 40.75, -73.99, ships_orders=False)
NEW_YORK = (40.71, -74.01)


def new_id() -> str:
    return str(uuid.uuid4())


class World:
    def __init__(self, sites: list[Site], stock: dict[tuple[str, str], int]) -> None:
        self.sites = sites
        self.skus: dict[str, SkuStock] = {}
        self.orders: dict[str, Order] = {}
        self.commands: deque[dict] = deque()
        self.replies: deque[dict] = deque()
        self.published = Effects()
        self.signals: list = []
        for (sku, location_id), units in stock.items():
            self.receive(sku, location_id, units, T0)
        self.run()

    # --- the network -----------------------------------------------------------------------
    def network(self) -> decisions.Network:
        return decisions.Network(
            sites=self.sites,
            available=lambda sku: {
                loc: p.available for loc, p in self.stock(sku).positions.items()
            },
            origins={s.location_id: {"country": "US", "postal_code": "00000"} for s in self.sites},
        )

    def stock(self, sku: str) -> SkuStock:
        return self.skus.setdefault(sku, SkuStock(sku))

    def shipping(self) -> set[str]:
        return {s.location_id for s in self.sites if s.ships_orders}

    # --- inputs ----------------------------------------------------------------------------
    def place(self, order_id: str, lines: dict[str, int], at: datetime = T0, to=NEW_YORK):
        record = {
            "event_id": new_id(),
            "occurred_at": at,
            "order_id": order_id,
            "channel": "web",
            "customer": {"customer_id": f"C-{order_id}", "email": f"{order_id}@example.com"},
            "shipping_address": {
                "name": "Ada Lovelace",
                "line1": "1 Main St",
                "city": "New York",
                "region": "NY",
                "postal_code": "10001",
                "country": "US",
                "latitude": to[0],
                "longitude": to[1],
            },
            "lines": [
                {"line_id": str(n), "sku": sku, "quantity": units, "unit_price": Decimal("9.50")}
                for n, (sku, units) in enumerate(lines.items(), start=1)
            ],
            "currency": "USD",
            "shipping_method": "standard",
            "promised_delivery_date": (at + timedelta(days=4)).date(),
        }
        order, step = decisions.place(record, 0, RULES)
        self.orders[order_id] = order
        self._collect(step)
        return order

    def step(self, order_id: str, at: datetime, decide) -> Order:
        step = Step(self.orders[order_id], at, new_id(), RULES)
        decide(step)
        self._collect(step)
        return step.order

    def cancel(self, order_id: str, at: datetime, reason: str = "customer") -> Order:
        return self.step(order_id, at, lambda step: decisions.cancel(step, reason))

    def fulfil(self, order_id: str, event_type: str, at: datetime, location_id: str, **fields):
        record = {"event_id": new_id(), "location_id": location_id, **fields}
        return self.step(
            order_id,
            at,
            lambda step: decisions.fulfil(step, event_type, record, self.network()),
        )

    def ship(self, order_id: str, at: datetime, location_id: str, lines: dict[str, int]):
        order = self.orders[order_id]
        shipment_id = f"SH-{order_id}-{len(order.shipments) + 1}"
        return self.fulfil(
            order_id,
            "ShipmentCreated",
            at,
            location_id,
            shipment_id=shipment_id,
            carrier="ups",
            service="ground",
            tracking_number=f"1Z{shipment_id}",
            lines=[
                {"line_id": line_id, "sku": order.lines[line_id].sku, "quantity": units}
                for line_id, units in lines.items()
            ],
        )

    def receive(self, sku: str, location_id: str, units: int, at: datetime) -> None:
        record = {"event_id": new_id(), "occurred_at": at, "sku": sku}
        record |= {"location_id": location_id, "quantity": units, "reference": ""}
        stock = self.stock(sku)
        change = apply_inventory_event(stock, "InventoryReceived", record)
        self._after_change(stock, change, record["event_id"], at)

    def adjust(self, sku: str, location_id: str, delta: int, at: datetime) -> None:
        record = {"event_id": new_id(), "occurred_at": at, "sku": sku}
        record |= {"location_id": location_id, "delta": delta, "reason": "damaged"}
        stock = self.stock(sku)
        change = apply_inventory_event(stock, "InventoryAdjusted", record)
        self._after_change(stock, change, record["event_id"], at)

    # --- time ------------------------------------------------------------------------------
    def advance(self, now: datetime) -> None:
        """Fires every timer due by `now`, soonest first, delivering what each one sends."""
        while True:
            due = sorted(
                (when, order_id, kind)
                for order_id, order in self.orders.items()
                for kind, when in order.timers.items()
                if when <= now
            )
            if not due:
                return
            when, order_id, kind = due[0]
            self.step_timer(order_id, kind, when)
            self.run()

    def step_timer(self, order_id: str, kind: str, when: datetime) -> None:
        cause = decisions.timer_cause(order_id, kind, when)
        step = Step(self.orders[order_id], when, cause, RULES)
        decisions.fire_timer(step, kind, self.network())
        self._collect(step)

    # --- delivery --------------------------------------------------------------------------
    def run(self) -> None:
        """Delivers queued commands and replies until nothing is in flight."""
        while self.commands or self.replies:
            while self.commands:
                self._execute(self.commands.popleft())
            while self.replies:
                reply = self.replies.popleft()
                order = self.orders[reply["order_id"]]
                step = Step(order, reply["occurred_at"], reply["command_id"], RULES)
                decisions.on_reply(step, reply, self.network())
                self._collect(step)

    def _execute(self, record: dict) -> None:
        stock = self.stock(record["sku"])
        reservation = Reservation(record["order_id"], record["line_id"], record["location_id"])
        command = StockCommand(
            record["command_id"],
            record["action"],
            record["sku"],
            reservation,
            record["quantity"],
            record["occurred_at"],
        )
        change, granted = apply_command(stock, command)
        if command.action == "reserve":
            position = stock.position(reservation.location_id)
            self.replies.append(
                record | {"granted": granted, "available_after": position.available}
            )
        self._after_change(stock, change, command.command_id, command.occurred_at)

    def _after_change(self, stock: SkuStock, change, cause: str, at: datetime) -> None:
        for reservation, units in fill_backorders(stock, change, self.shipping(), cause, at):
            self._tell("reserve", stock, reservation, units, at, True)
        for signal in signals_after(stock, change, 0, self.shipping()):
            self.signals.append(signal)
            for reservation, units in signal.reservations:
                self._tell("revoke", stock, reservation, units, at, False)

    def _tell(self, action, stock, reservation, units, at, granted) -> None:
        self.replies.append(
            {
                "command_id": new_id(),
                "occurred_at": at,
                "action": action,
                "sku": stock.sku,
                "location_id": reservation.location_id,
                "order_id": reservation.order_id,
                "line_id": reservation.line_id,
                "quantity": units,
                "granted": granted,
                "available_after": stock.position(reservation.location_id).available,
            }
        )

    def _collect(self, step: Step) -> None:
        effects = step.finish()
        self.commands.extend(effects.commands)
        for name in ("updates", "allocations", "notifications", "exceptions", "shipments"):
            getattr(self.published, name).extend(getattr(effects, name))

    # --- reading ---------------------------------------------------------------------------
    def allocation_rows(self, order_id: str) -> dict[tuple[str, str], tuple[int, str]]:
        """Latest (line, location) -> (quantity, state), as ClickHouse FINAL would show."""
        latest: dict[tuple[str, str], dict] = {}
        for row in self.published.allocations:
            if row["order_id"] == order_id:
                key = (row["line_id"], row["location_id"])
                if key not in latest or row["version"] >= latest[key]["version"]:
                    latest[key] = row
        return {key: (row["quantity"], row["state"]) for key, row in latest.items()}

    def statuses(self, order_id: str) -> list[str]:
        return [u["status"] for u in self.published.updates if u["order_id"] == order_id]
