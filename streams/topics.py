"""Every topic of the pipeline, declared once: name, key, the record types its values hold.

Names are defaults; a deployment sets OMS_TOPIC_PREFIX (default "oms.") and the partition
count. Values are Avro in the Confluent wire format (schemas/serde.py) on every topic.
Topics keyed by SKU (inventory, stock commands) share partitioning, so the worker that owns
a SKU's partition owns its stock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class TopicKind(Enum):
    INPUT = "input"  # published by upstream systems
    COMMAND = "command"  # published by the pipeline to itself, consumed by a worker
    DERIVED = "derived"  # published by the pipeline for the sink and other consumers
    DEAD_LETTER = "dead-letter"


@dataclass(frozen=True)
class TopicSpec:
    suffix: str
    kind: TopicKind
    key: str
    event_types: tuple[str, ...]
    id_field: str = "event_id"  # what makes a record unique, for de-duplication

    def name(self, prefix: str) -> str:
        return f"{prefix}{self.suffix}"


LOCATIONS = TopicSpec("locations", TopicKind.INPUT, "location_id", ("LocationUpserted",))
ORDERS = TopicSpec("orders", TopicKind.INPUT, "order_id", ("OrderPlaced", "OrderCancelled"))
FULFILLMENT = TopicSpec(
    "fulfillment", TopicKind.INPUT, "order_id", ("OrderPicked", "OrderPacked", "ShipmentCreated")
)
INVENTORY = TopicSpec(
    "inventory",
    TopicKind.INPUT,
    "sku",
    ("InventoryReceived", "InventoryAdjusted", "InventoryCounted", "InventoryTransferred"),
)
CARRIER_SCANS = TopicSpec("carrier-scans", TopicKind.INPUT, "tracking_number", ("CarrierScan",))

INPUT_TOPICS = (LOCATIONS, ORDERS, FULFILLMENT, INVENTORY, CARRIER_SCANS)

STOCK_COMMANDS = TopicSpec(
    "stock-commands", TopicKind.COMMAND, "sku", ("StockCommand",), id_field="command_id"
)

STOCK_REPLIES = TopicSpec(
    "stock-replies", TopicKind.COMMAND, "order_id", ("StockReply",), id_field="command_id"
)
# Event-time clock ticks, one per partition, so every order partition's timers see the time
# the inputs reached even when no order event lands on it (streams/clock.py).
CLOCK = TopicSpec("clock", TopicKind.COMMAND, "partition", ("ClockTick",))

ACCEPTED_EVENTS = TopicSpec(
    "accepted-events",
    TopicKind.DERIVED,
    "the input key",
    tuple(t for spec in INPUT_TOPICS for t in spec.event_types),
)
INVENTORY_MOVEMENTS = TopicSpec(
    "inventory-movements", TopicKind.DERIVED, "sku", ("InventoryMovement",)
)
STOCK_SIGNALS = TopicSpec("stock-signals", TopicKind.DERIVED, "sku", ("StockSignal",))
ORDER_UPDATES = TopicSpec("order-status", TopicKind.DERIVED, "order_id", ("OrderUpdate",))
ALLOCATIONS = TopicSpec("allocations", TopicKind.DERIVED, "order_id", ("OrderAllocation",))
NOTIFICATIONS = TopicSpec("notifications", TopicKind.DERIVED, "order_id", ("Notification",))
DELIVERY_EXCEPTIONS = TopicSpec(
    "delivery-exceptions", TopicKind.DERIVED, "order_id", ("DeliveryException",)
)
# Consumed by the worker too: shipments (for tracking, keyed by parcel) and parcel status
# (for the orders, keyed by order), both partitioned like what consumes them.
SHIPMENTS = TopicSpec("shipments", TopicKind.DERIVED, "tracking_number", ("ShipmentRecorded",))
SHIPMENT_STATUS = TopicSpec(
    "shipment-status", TopicKind.DERIVED, "order_id", ("ShipmentStatus",), id_field="update_id"
)
DEAD_LETTERS = TopicSpec("dead-letters", TopicKind.DEAD_LETTER, "the input key", ("DeadLetter",))

WORKER_SOURCES = (*INPUT_TOPICS, STOCK_COMMANDS, STOCK_REPLIES, SHIPMENTS, SHIPMENT_STATUS)
SINK_SOURCES = (
    ACCEPTED_EVENTS,
    INVENTORY_MOVEMENTS,
    STOCK_SIGNALS,
    ORDER_UPDATES,
    ALLOCATIONS,
    NOTIFICATIONS,
    DELIVERY_EXCEPTIONS,
    SHIPMENTS,
    SHIPMENT_STATUS,
    DEAD_LETTERS,
)
ALL_TOPICS = tuple(dict.fromkeys((*WORKER_SOURCES, CLOCK, *SINK_SOURCES)))

INPUT_TOPIC_BY_EVENT_TYPE = {t: spec for spec in INPUT_TOPICS for t in spec.event_types}

# The worker's tables (Faust names their changelog topics "<app id>-<table>-changelog").
# `oms topics create` makes the changelogs too, compacted, with the sources' partition
# count: a worker that starts under load then never races Faust's own topic creation.
CLOCK_TICKS_TABLE = "clock-ticks"  # streams.clock.LastTicks
TABLES = ("seen-event-ids", "stock", "orders", "parcels", CLOCK_TICKS_TABLE)


def changelog_name(app_id: str, table: str) -> str:
    return f"{app_id}-{table}-changelog"
