"""Every topic of the pipeline, declared once: name, key, the event types its values may hold.

Names are defaults; a deployment sets OMS_TOPIC_PREFIX (default "oms.") and the partition
count. Values are Avro in the Confluent wire format (schemas/serde.py) on every topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class TopicKind(Enum):
    INPUT = "input"
    DERIVED = "derived"
    DEAD_LETTER = "dead-letter"


@dataclass(frozen=True)
class TopicSpec:
    suffix: str
    kind: TopicKind
    key: str
    event_types: tuple[str, ...]

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

ACCEPTED_EVENTS = TopicSpec(
    "accepted-events",
    TopicKind.DERIVED,
    "the input key",
    tuple(t for spec in INPUT_TOPICS for t in spec.event_types),
)
DEAD_LETTERS = TopicSpec("dead-letters", TopicKind.DEAD_LETTER, "the input key", ("DeadLetter",))

ALL_TOPICS = (*INPUT_TOPICS, ACCEPTED_EVENTS, DEAD_LETTERS)

INPUT_TOPIC_BY_EVENT_TYPE = {t: spec for spec in INPUT_TOPICS for t in spec.event_types}
