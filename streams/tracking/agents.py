"""Thin Faust glue for tracking: the parcels table (keyed and partitioned by tracking
number, like oms.carrier-scans and oms.shipments), the handlers for scans and shipments,
and the timer rules on the event-time clock."""

from __future__ import annotations

from datetime import datetime

import faust

from oms.settings import Settings
from schemas.canonical import from_ms
from schemas.serde import AvroSerde
from streams import metrics
from streams.clock import EventClock, partition_of_source
from streams.ingest.agents import Redelivery, apply_once, deliver
from streams.locks import KeyedLocks
from streams.topics import DELIVERY_EXCEPTIONS, SHIPMENT_STATUS
from streams.tracking.parcel import Outcome, Parcel, add_scan, add_shipment, judge
from streams.tracking.rules import Timing
from streams.versioned import versioned_table


def timings_from(settings: Settings) -> tuple[Timing, dict[str, Timing]]:
    default = Timing(settings.stalled_after, settings.lost_after)
    per_carrier = {
        carrier.lower(): Timing(**{**default.__dict__, **overrides})
        for carrier, overrides in settings.carrier_timings.items()
    }
    return default, per_carrier


class TrackingService:
    def __init__(self, app: faust.App, settings: Settings, serde: AvroSerde) -> None:
        self.serde = serde
        self.default_timing, self.carrier_timing = timings_from(settings)
        # tracking_number -> Parcel.as_dict()
        self.parcels = versioned_table(app, "parcels")
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        prefix = settings.topic_prefix
        self.status_topic = app.topic(SHIPMENT_STATUS.name(prefix), **raw)
        self.exceptions_topic = app.topic(DELIVERY_EXCEPTIONS.name(prefix), **raw)
        self.locks = KeyedLocks()  # per parcel
        self.redelivery = Redelivery(app)
        self.clock = EventClock(
            self.parcels,
            lambda stored: stored["partition"],
            lambda stored: [(from_ms(stored["due"]), "rules")] if stored["due"] else [],
            self._fire_timer,
        )

    def handlers(self) -> dict:
        return {"carrier-scans": self.on_scan, "shipments": self.on_shipment}

    def load(self, tracking_number: str) -> Parcel | None:
        stored = self.parcels.get(tracking_number)
        return Parcel.from_dict(stored) if stored else None

    def timing(self, parcel: Parcel) -> Timing:
        carrier = (parcel.shipment or {}).get("carrier", "")
        return self.carrier_timing.get(carrier.lower(), self.default_timing)

    async def on_scan(self, _type: str, record: dict, source: str, offset: int) -> None:
        await self._change(record, source, offset, lambda parcel: add_scan(parcel, record))

    async def on_shipment(self, _type: str, record: dict, source: str, offset: int) -> None:
        await self._change(record, source, offset, lambda parcel: add_shipment(parcel, record))

    async def _change(self, record: dict, source: str, offset: int, change) -> None:
        partition = partition_of_source(source)
        at = record.get("occurred_at") or record["shipped_at"]
        await self.clock.advance(partition, at)
        tracking_number = record["tracking_number"]
        async with self.locks.hold(tracking_number):
            parcel = self.load(tracking_number) or Parcel(tracking_number, partition)

            async def apply() -> None:
                if change(parcel) is not False:
                    clock = max(self.clock.reached.get(partition, at), at)
                    await self._publish(judge(parcel, clock, self.timing(parcel), at))

            await apply_once(
                self.redelivery, parcel, source, offset, apply, lambda: self._store(parcel)
            )
        await self.clock.advance(partition)  # a rule the clock already passed

    async def _fire_timer(self, tracking_number: str, _kind: str, due: datetime) -> None:
        async with self.locks.hold(tracking_number):
            parcel = self.load(tracking_number)
            if parcel is None or parcel.due is None or from_ms(parcel.due) != due:
                return
            await self._publish(judge(parcel, due, self.timing(parcel), due))
            self._store(parcel)

    def _store(self, parcel: Parcel) -> None:
        stored = parcel.as_dict()
        self.parcels[parcel.tracking_number] = stored
        self.clock.schedule(parcel.partition, parcel.tracking_number, stored)

    async def _publish(self, outcome: Outcome) -> None:
        for exception in outcome.exceptions:
            metrics.count_exception(exception)
            value = self.serde.encode("DeliveryException", exception)
            await deliver(self.exceptions_topic, exception["order_id"].encode(), value)
        if outcome.status is not None:
            value = self.serde.encode("ShipmentStatus", outcome.status)
            await deliver(self.status_topic, outcome.status["order_id"].encode(), value)
