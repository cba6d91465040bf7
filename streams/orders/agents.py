"""Thin Faust glue for orders: the orders table, the handlers the intake agents call for
order, fulfillment and stock-reply records, and the clock agent that fires due timers.

Each handler moves its partition's clock to the record's event time first (firing the
timers that became due), then decides with streams.orders.decisions, delivers the records
the decision produced, and stores the order (outputs before state, as in the intake).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import faust

from connectors.clickhouse.pii import customer_keyer
from oms.settings import Settings
from schemas.canonical import from_ms
from schemas.serde import AvroSerde
from streams import metrics
from streams.clock import EventClock, partition_of_source
from streams.ingest.agents import Redelivery, apply_once, deliver
from streams.inventory.agents import InventoryService
from streams.locks import KeyedLocks
from streams.orders import decisions
from streams.orders.allocation import Site
from streams.orders.effects import Effects, Rules, Step
from streams.orders.lifecycle import ImpossibleTransition
from streams.orders.order import Order
from streams.topics import (
    ALLOCATIONS,
    DELIVERY_EXCEPTIONS,
    NOTIFICATIONS,
    ORDER_UPDATES,
    SHIPMENTS,
    STOCK_COMMANDS,
)
from streams.versioned import versioned_table


def rules_from(settings: Settings) -> Rules:
    customer_key = customer_keyer(settings.customer_key_secret.get_secret_value())
    return Rules(
        fraud_hold=settings.fraud_hold,
        ship_by_sla=settings.ship_by_sla,
        follow_up_after=settings.follow_up_after,
        allocation_attempts=settings.allocation_attempts,
        tracking_url=settings.tracking_url,
        customer_key=customer_key,
    )


class OrderService:
    def __init__(
        self, app: faust.App, settings: Settings, serde: AvroSerde, inventory: InventoryService
    ) -> None:
        self.serde = serde
        self.inventory = inventory
        self.rules = rules_from(settings)
        # order_id -> Order.as_dict(); partitioned like the orders, fulfillment, stock-reply
        # and clock topics
        self.orders = versioned_table(app, "orders")
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        prefix = settings.topic_prefix
        self.outputs = {
            name: app.topic(spec.name(prefix), **raw)
            for name, spec in (
                ("commands", STOCK_COMMANDS),
                ("updates", ORDER_UPDATES),
                ("allocations", ALLOCATIONS),
                ("notifications", NOTIFICATIONS),
                ("exceptions", DELIVERY_EXCEPTIONS),
                ("shipments", SHIPMENTS),
            )
        }
        self.locks = KeyedLocks()  # per order
        self.redelivery = Redelivery(app)
        self.clock = EventClock(
            self.orders,
            lambda stored: stored["partition"],
            lambda stored: [(from_ms(due), kind) for kind, due in stored["timers"].items()],
            self._fire_timer,
        )

    def handlers(self) -> dict:
        return {
            "orders": self.on_order_event,
            "fulfillment": self.on_fulfillment,
            "stock-replies": self.on_reply,
            "shipment-status": self.on_parcel,
        }

    def load(self, order_id: str) -> Order | None:
        stored = self.orders.get(order_id)
        return Order.from_dict(stored) if stored else None

    def network(self) -> decisions.Network:
        """What a plan needs: every location, and the stock available up to now (read
        when the first SKU is asked for: most decisions plan nothing)."""
        locations = self.inventory.sites()
        sites = [
            Site(loc, site["latitude"], site["longitude"], site["ships_orders"])
            for loc, site in locations.items()
        ]
        return decisions.Network(
            sites=sites,
            available=self._available_now(),
            origins=locations,
        )

    def _available_now(self) -> Callable[[str], dict[str, int]]:
        refreshed = False

        def available(sku: str) -> dict[str, int]:
            nonlocal refreshed
            if not refreshed:
                self.inventory.refresh_availability()
                refreshed = True
            return self.inventory.availability(sku)

        return available

    # --- handlers ------------------------------------------------------------------------
    async def on_order_event(
        self, event_type: str, record: dict, source: str, offset: int
    ) -> str | None:
        await self._advance(source, record["occurred_at"])
        if event_type == "OrderPlaced":
            return await self._place(record, source, offset)
        reason = record["reason"]
        return await self._apply(
            record, source, offset, lambda step: decisions.cancel(step, reason)
        )

    async def on_fulfillment(
        self, event_type: str, record: dict, source: str, offset: int
    ) -> str | None:
        return await self._decide(
            record, source, offset, record["event_id"], decisions.fulfil, event_type
        )

    async def on_reply(self, _event_type: str, record: dict, source: str, offset: int):
        return await self._decide(record, source, offset, record["command_id"], decisions.on_reply)

    async def on_parcel(self, _type: str, record: dict, source: str, offset: int) -> None:
        await self._apply(
            record,
            source,
            offset,
            lambda step: decisions.parcel_progress(step, record),
            cause=record["update_id"],
        )

    async def _decide(self, record, source, offset, cause, decision, *head) -> str | None:
        """Moves the clock, then applies decision(step, *head, record, network)."""
        await self._advance(source, record["occurred_at"])
        network = self.network()
        return await self._apply(
            record,
            source,
            offset,
            lambda step: decision(step, *head, record, network),
            cause=cause,
        )

    async def _place(self, record: dict, source: str, offset: int) -> str | None:
        partition = partition_of_source(source)
        async with self.locks.hold(record["order_id"]):
            existing = self.load(record["order_id"])
            if existing is not None and not existing.already_applied(source, offset):
                return f"order {existing.order_id} already placed"
            order, step = existing, None
            if order is None:
                order, step = decisions.place(record, partition, self.rules)

            async def change() -> None:
                await self._publish(step.finish())

            refused = await apply_once(
                self.redelivery, order, source, offset, change, lambda: self._save(order)
            )
        await self.clock.advance(partition)  # a hold the clock already passed
        return refused

    async def _apply(
        self,
        record: dict,
        source: str,
        offset: int,
        decide: Callable[[Step], None],
        cause: str | None = None,
    ) -> str | None:
        async with self.locks.hold(record["order_id"]):
            order = self.load(record["order_id"])
            if order is None:
                return f"unknown order {record['order_id']}"
            step = Step(order, record["occurred_at"], cause or record["event_id"], self.rules)

            async def change() -> str | None:
                try:
                    decide(step)
                except ImpossibleTransition as exc:
                    return str(exc)
                await self._publish(step.finish())
                return None

            refused = await apply_once(
                self.redelivery, order, source, offset, change, lambda: self._save(order)
            )
        await self.clock.advance(order.partition)  # e.g. a follow-up already due
        return refused

    # --- time ----------------------------------------------------------------------------
    async def _advance(self, source: str, at: datetime) -> None:
        await self.clock.advance(partition_of_source(source), at)

    async def _fire_timer(self, order_id: str, kind: str, due: datetime) -> None:
        async with self.locks.hold(order_id):
            order = self.load(order_id)
            if order is None or order.timers.get(kind) != due:
                return  # re-scheduled or cleared since
            step = Step(order, due, decisions.timer_cause(order_id, kind, due), self.rules)
            decisions.fire_timer(step, kind, self.network())
            await self._publish(step.finish())
            self._save(order)

    # --- effects -------------------------------------------------------------------------
    def _save(self, order: Order) -> None:
        stored = order.as_dict()
        self.orders[order.order_id] = stored
        self.clock.schedule(order.partition, order.order_id, stored)

    async def _publish(self, effects: Effects) -> None:
        encode = self.serde.encode
        out = self.outputs
        for command in effects.commands:
            await deliver(out["commands"], command["sku"].encode(), encode("StockCommand", command))
        metrics.BACKORDERED_LINES.inc(effects.backordered_lines)
        for update in effects.updates:
            metrics.ORDER_UPDATES.labels(update["type"], update["status"]).inc()
            await deliver(
                out["updates"], update["order_id"].encode(), encode("OrderUpdate", update)
            )
        for allocation in effects.allocations:
            key = allocation["order_id"].encode()
            await deliver(out["allocations"], key, encode("OrderAllocation", allocation))
        for note in effects.notifications:
            metrics.NOTIFICATIONS.labels(note["kind"]).inc()
            await deliver(
                out["notifications"], note["order_id"].encode(), encode("Notification", note)
            )
        for exception in effects.exceptions:
            metrics.count_exception(exception)
            key = exception["order_id"].encode()
            await deliver(out["exceptions"], key, encode("DeliveryException", exception))
        for shipment in effects.shipments:
            key = shipment["tracking_number"].encode()
            await deliver(out["shipments"], key, encode("ShipmentRecorded", shipment))
