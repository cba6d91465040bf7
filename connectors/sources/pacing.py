"""Where a paced replay waits, so that every run of a file decides in the same order.

Kafka keeps order only within a partition. Two events on different partitions (or topics)
that reach the same state, one SKU's stock, one order or one parcel, are decided in
whichever order the workers get to them; a replay that let them be in flight together could
end differently from run to run, and from one worker layout to another. So the replayer
publishes freely while the events in flight touch disjoint keys and, at the first event
that touches a key an event of another partition touched, waits until everything published
is processed. The keys an event touches:

- an inventory event: its SKU;
- an order or fulfillment event: its order and the SKUs of its lines (a placement: only
  its order, since it changes no stock until its hold ends); and, because it moves its
  partition's event-time clock, the order and SKUs of every fraud hold that clock passes
  (a hold's end allocates stock), mirrored here from the holds' placement times;
- a carrier scan: its parcel and that parcel's order;
- a location: everything (a barrier).

At each tick of the event-time clock the replay first waits for everything before it, then
publishes the tick itself, before the tick's first event, so the timers it fires complete
first. Holds ending at the same tick on different partitions that want a common SKU would
race for it, so those partitions get the tick one after another, in partition order.

Not mirrored: ship-by and follow-up timers and the parcel rules' timers. They change only
their own order or parcel, which a conflicting event in the same instant would need to
touch from another partition; docs/scaling.md ("Determinism, and its limit") says so.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime, timedelta

from streams.clock import tick_of

Key = tuple[str, str]
Position = tuple[str, int]  # (topic, partition)

ORDER_CLOCK_EVENTS = frozenset(
    {"OrderPlaced", "OrderCancelled", "OrderPicked", "OrderPacked", "ShipmentCreated"}
)
INVENTORY_EVENTS = frozenset(
    {"InventoryReceived", "InventoryAdjusted", "InventoryCounted", "InventoryTransferred"}
)


class Pacer:
    def __init__(self, tick: timedelta, fraud_hold: timedelta) -> None:
        self.tick = tick
        self.fraud_hold = fraud_hold
        self._skus: dict[str, frozenset[str]] = {}  # order -> the SKUs of its lines
        self._order_of_parcel: dict[str, str] = {}
        self._holds: dict[int, list[tuple[datetime, str]]] = {}  # partition -> (end, order)
        self._clock: dict[int, datetime] = {}  # order partition -> event time reached
        self.reached: datetime | None = None  # the last tick published
        self._in_flight: dict[Key, Position] = {}  # key -> the partition that touched it
        self._barrier = False

    # --- the clock's ticks ---------------------------------------------------------------
    def ticks(self, at: datetime, partitions: Iterable[int]) -> list[list[int]]:
        """The clock partitions to send `at`'s tick to, group after group (the replay
        waits after each); none when the tick was sent already."""
        tick = tick_of(at, self.tick)
        if self.reached is not None and tick <= self.reached:
            return []
        self.reached = tick
        groups: list[list[int]] = [[]]
        wanted: set[str] = set()  # SKUs the current group's holds want
        for partition in sorted(partitions):
            skus = {sku for key in self._advance(partition, tick) for sku in self._wants(key)}
            if skus & wanted:
                groups.append([])
                wanted = set()
            groups[-1].append(partition)
            wanted |= skus
        return groups

    # --- events --------------------------------------------------------------------------
    def touches(self, event_type: str, record: dict, partition: int) -> set[Key] | None:
        """The keys the event touches (None: all of them). Order events' partition is
        their order's, since orders and fulfillment are both keyed by order id."""
        if event_type == "LocationUpserted":
            return None
        if event_type in INVENTORY_EVENTS:
            return {("sku", record["sku"])}
        if event_type == "CarrierScan":
            parcel = record["tracking_number"]
            order = self._order_of_parcel.get(parcel)
            return {("parcel", parcel)} | ({("order", order)} if order else set())
        if event_type not in ORDER_CLOCK_EVENTS:
            return None  # unknown to the pacer: wait on both sides of it
        order = record["order_id"]
        lines = frozenset(line["sku"] for line in record.get("lines") or ())
        self._skus[order] = self._skus.get(order, frozenset()) | lines
        keys = {("order", order)}
        if event_type == "OrderPlaced":
            # a placement reads and changes no stock: its SKUs are touched when its hold
            # ends, which is now if the partition's clock has passed it already
            end = record["occurred_at"] + self.fraud_hold
            heapq.heappush(self._holds.setdefault(partition, []), (end, order))
        else:
            keys |= {("sku", sku) for sku in self._skus[order]}
        for passed in self._advance(partition, record["occurred_at"]):
            keys |= {("order", passed), *(("sku", sku) for sku in self._wants(passed))}
        if event_type == "ShipmentCreated":
            self._order_of_parcel[record["tracking_number"]] = order
            keys.add(("parcel", record["tracking_number"]))
        return keys

    def must_wait(self, keys: set[Key] | None, position: Position) -> bool:
        """Whether the event must wait until everything in flight is processed."""
        if keys is None or self._barrier:
            return self._barrier or bool(self._in_flight)
        return any(self._in_flight.get(key, position) != position for key in keys)

    def publish(self, keys: set[Key] | None, position: Position) -> None:
        if keys is None:
            self._barrier = True
        for key in keys or ():
            self._in_flight.setdefault(key, position)

    def settled(self) -> None:
        """Everything published so far is processed."""
        self._in_flight.clear()
        self._barrier = False

    # --- fraud holds ---------------------------------------------------------------------
    def _advance(self, partition: int, at: datetime) -> list[str]:
        """Moves the partition's mirrored clock to `at`: the orders whose hold it passes."""
        reached = max(self._clock.get(partition, at), at)
        self._clock[partition] = reached
        holds = self._holds.get(partition, [])
        passed = []
        while holds and holds[0][0] <= reached:
            passed.append(heapq.heappop(holds)[1])
        return passed

    def _wants(self, order: str) -> frozenset[str]:
        return self._skus.get(order, frozenset())
