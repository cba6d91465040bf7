"""Thin Faust glue for inventory: the stock table, the locations table, and the handlers the
intake agents call for inventory events, stock commands and location updates."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import faust

from oms.settings import Settings
from schemas.serde import AvroSerde
from streams import metrics
from streams.ingest.agents import Redelivery, apply_once, deliver
from streams.inventory.directory import AvailabilityView, LocationDirectory
from streams.inventory.ledger import (
    Change,
    LedgerError,
    Position,
    Reservation,
    Signal,
    SkuStock,
    StockCommand,
    apply_command,
    apply_inventory_event,
    fill_backorders,
    signals_after,
)
from streams.locks import KeyedLocks
from streams.topics import INVENTORY_MOVEMENTS, STOCK_REPLIES, STOCK_SIGNALS
from streams.versioned import versioned_table


def _locations_of(event_type: str, record: dict) -> Iterable[str]:
    if event_type == "InventoryTransferred":
        return (record["from_location_id"], record["to_location_id"])
    return (record["location_id"],)


class InventoryService:
    def __init__(self, app: faust.App, settings: Settings, serde: AvroSerde) -> None:
        self.settings = settings
        self.serde = serde
        # sku -> SkuStock.as_dict(); partitioned like the inventory and stock-command topics
        self.stock = versioned_table(app, "stock")
        self.locations = LocationDirectory(settings, serde)  # every location, on every worker
        # sku -> location_id -> available: what orders plan with, on every worker. The SKUs
        # this worker owns are read from `_owned`, written in step with the stock table
        # (exact, and ahead of what is published); the others from the movements topic.
        self.available = AvailabilityView(settings, serde)
        self._owned: dict[str, dict[str, int]] = {}
        self.locks = KeyedLocks()  # per SKU
        self.redelivery = Redelivery(app)
        app.on_partitions_revoked.connect(self._forget_owned)
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        prefix = settings.topic_prefix
        self.movements = app.topic(INVENTORY_MOVEMENTS.name(prefix), **raw)
        self.signals = app.topic(STOCK_SIGNALS.name(prefix), **raw)
        self.replies = app.topic(STOCK_REPLIES.name(prefix), **raw)

    def handlers(self) -> dict:
        return {
            "locations": self.on_location,
            "inventory": self.on_inventory_event,
            "stock-commands": self.on_stock_command,
        }

    def load(self, sku: str) -> SkuStock:
        stored = self.stock.get(sku)
        return SkuStock.from_dict(stored) if stored else SkuStock(sku)

    def sites(self) -> dict[str, dict]:
        return self.locations.sites()

    def shipping_locations(self) -> set[str]:
        return {loc for loc, site in self.sites().items() if site["ships_orders"]}

    async def on_location(self, *_upserted) -> None:
        """Validated by the intake; the directory reads it from the topic."""
        self.locations.sites(refresh=True)

    async def on_inventory_event(
        self, event_type: str, record: dict, source: str, offset: int
    ) -> str | None:
        async with self.locks.hold(record["sku"]):
            stock = self.load(record["sku"])
            # a message read again was checked when it was applied; the locations replica
            # on this worker may lag the one that checked it, so it is not asked again
            if not stock.already_applied(source, offset):
                unknown = self.locations.unknown(list(_locations_of(event_type, record)))
                if unknown:
                    return f"unknown location {', '.join(unknown)}"

            async def change() -> None:
                moved = apply_inventory_event(stock, event_type, record)
                await self._commit(stock, moved, record["event_id"], record["occurred_at"])

            return await apply_once(
                self.redelivery, stock, source, offset, change, lambda: self._store(stock)
            )

    async def on_stock_command(
        self, _event_type: str, record: dict, source: str, offset: int
    ) -> str | None:
        command = StockCommand(
            command_id=record["command_id"],
            action=record["action"],
            sku=record["sku"],
            reservation=Reservation(record["order_id"], record["line_id"], record["location_id"]),
            quantity=record["quantity"],
            occurred_at=record["occurred_at"],
        )
        async with self.locks.hold(command.sku):
            stock = self.load(command.sku)

            async def change() -> str | None:
                try:
                    moved, granted = apply_command(stock, command)
                except LedgerError as exc:
                    return str(exc)
                if command.action == "reserve":
                    metrics.STOCK_RESERVATIONS.labels("granted" if granted else "refused").inc()
                    position = stock.position(command.reservation.location_id)
                    await self._reply(record, granted, position)
                await self._commit(stock, moved, command.command_id, command.occurred_at)
                return None

            return await apply_once(
                self.redelivery, stock, source, offset, change, lambda: self._store(stock)
            )

    async def _reply(self, command: dict, granted: bool, position: Position) -> None:
        reply = {**command, "granted": granted, "available_after": position.available}
        await deliver(
            self.replies, command["order_id"].encode(), self.serde.encode("StockReply", reply)
        )

    def _store(self, stock: SkuStock) -> None:
        self.stock[stock.sku] = stock.as_dict()
        available = {loc: p.available for loc, p in stock.positions.items()}
        self._owned[stock.sku] = available

    def availability(self, sku: str) -> dict[str, int]:
        """Units available per location: exact for the SKUs this worker owns; for the
        others, as far as the movements read by the last refresh_availability()."""
        owned = self._owned.get(sku)
        return owned if owned is not None else self.available.of(sku)

    def refresh_availability(self) -> None:
        self.available.refresh()

    async def _forget_owned(self, *_args, **_kwargs) -> None:
        self._owned.clear()

    async def _commit(self, stock: SkuStock, change: Change, cause_id: str, at) -> None:
        """Fills waiting backorders with what the change made available, then delivers the
        movements, signals and the replies the orders need (before the state is stored)."""
        shipping = self.shipping_locations()
        fills = fill_backorders(stock, change, shipping, cause_id, at)
        if not change.movements:
            return
        was_out = stock.out
        signals = signals_after(stock, change, self.settings.reorder_point_for(stock.sku), shipping)
        if stock.out != was_out:
            metrics.STOCK_OUT_SKUS.inc(1 if stock.out else -1)
        key = stock.sku.encode()
        for movement in change.movements:
            position = stock.position(movement.location_id)
            record = {
                **movement.__dict__,
                "on_hand": position.on_hand,
                "reserved": position.reserved,
                "version": stock.version,
            }
            await deliver(self.movements, key, self.serde.encode("InventoryMovement", record))
        for reservation, quantity in fills:
            metrics.STOCK_RESERVATIONS.labels("backorder_filled").inc()
            await self._tell(stock, "reserve", reservation, quantity, f"{cause_id}/fill", at)
        for signal in signals:
            metrics.STOCK_SIGNALS.labels(signal.kind).inc()
            signal_record = _signal_record(signal, cause_id, at)
            await deliver(self.signals, key, self.serde.encode("StockSignal", signal_record))
            for reservation, quantity in signal.reservations:
                await self._tell(
                    stock, "revoke", reservation, quantity, signal_record["signal_id"], at
                )

    async def _tell(
        self, stock: SkuStock, action: str, reservation: Reservation, quantity: int, cause: str, at
    ) -> None:
        """A reply nobody asked for: a backorder filled, or an oversold reservation revoked."""
        command = {
            "command_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cause}/{reservation.key}")),
            "occurred_at": at,
            "action": action,
            "sku": stock.sku,
            "location_id": reservation.location_id,
            "order_id": reservation.order_id,
            "line_id": reservation.line_id,
            "quantity": quantity,
        }
        await self._reply(command, action == "reserve", stock.position(reservation.location_id))


def _signal_record(signal: Signal, cause_id: str, at) -> dict:
    return {
        "signal_id": f"{cause_id}/{signal.kind}/{signal.location_id}",
        "kind": signal.kind,
        "sku": signal.sku,
        "location_id": signal.location_id,
        "available": signal.available,
        "occurred_at": at,
        "reservations": [
            {
                "order_id": r.order_id,
                "line_id": r.line_id,
                "location_id": r.location_id,
                "quantity": quantity,
            }
            for r, quantity in signal.reservations
        ],
    }
