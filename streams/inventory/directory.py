"""What every worker must know of all keys, read straight from topics: every location, and
the stock available at every location of every SKU.

Faust's GlobalTable held both first, but with more than two workers a worker's replica
holds only the partitions it owns or stands by for (faust-streaming issue #283): the chaos
check dead-lettered receipts at locations the one-worker reference knew, and backordered
orders against stock it could not see. The topics are the truth, so each worker reads them
to their end: the locations at most once a second and whenever an event names one it does
not know; the availability before every allocation plan.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from oms.kafka_admin import end_offsets, retrying
from oms.settings import Settings
from schemas.serde import AvroSerde
from streams.ingest.validation import problems
from streams.topics import INVENTORY_MOVEMENTS, LOCATIONS

log = logging.getLogger(__name__)

PLANNING_FIELDS = ("ships_orders", "latitude", "longitude", "country", "postal_code")


class TopicView:
    """A topic read from its start by a consumer of no group, handing each record on."""

    def __init__(self, settings: Settings, topic: str, absorb: Callable[[Message], None]):
        self.settings = settings
        self.topic = topic
        self.absorb = absorb
        self._consumer: Consumer | None = None
        self._next: dict[int, int] = {}  # partition -> next offset to read
        self.read_at = float("-inf")

    def read_to_end(self) -> None:
        """Reads what is new, trying again until it has. A view short of its end decides
        wrongly for good: a plan would backorder lines whose stock it had not read yet, a
        receipt would be dead-lettered for a location not read yet (the short chaos check
        failed once so, a plan made while the broker restarted). So while the broker does
        not answer this blocks the worker, which could neither send nor commit meanwhile."""
        while True:
            try:
                self._read_new()
                return
            except KafkaException as exc:
                log.warning("%s not read to its end yet, trying again: %s", self.topic, exc)
                self._close()  # a client whose broker handle was destroyed stays broken
                time.sleep(1.0)

    def _read_new(self) -> None:
        """Reads up to the end offsets of this moment. The partitions are assigned only while
        reading: a consumer with a fetch in flight answers offset queries only after the
        fetch's long poll."""
        consumer = self._consumer or self._open()
        ends = retrying(lambda: self._ends(consumer))
        behind = {p for p, end in ends.items() if self._next[p] < end}
        if behind:
            consumer.assign([self._partition(p, self._next[p]) for p in behind])
            try:
                deadline = time.monotonic() + 10
                while any(self._next[p] < ends[p] for p in behind):
                    if time.monotonic() > deadline:
                        raise KafkaException(f"{self.topic}: not at its end after 10 s")
                    message = consumer.poll(1.0)  # returns as soon as one is there
                    if message is None or message.error():
                        continue
                    self._next[message.partition()] = message.offset() + 1
                    self.absorb(message)
            finally:
                consumer.unassign()
        self.read_at = time.monotonic()

    def _ends(self, consumer: Consumer) -> dict[int, int]:
        """partition -> end offset, all in one request."""
        ends = end_offsets(consumer, [self._partition(p) for p in self._next])
        return {partition: end for (_, partition), end in ends.items()}

    def _partition(self, partition: int, offset: int = OFFSET_BEGINNING) -> TopicPartition:
        return TopicPartition(self.topic, partition, offset)

    def _open(self) -> Consumer:
        consumer = Consumer(
            {
                **self.settings.kafka_client_config(),
                "group.id": f"{self.settings.app_id}-view-{uuid.uuid4()}",  # never joins
                "enable.auto.commit": False,
                "isolation.level": "read_uncommitted",  # ends are high watermarks
                # a fetch still in flight after unassign() delays the next offset query by
                # up to its long poll (500 ms by default), on the worker's event loop
                "fetch.wait.max.ms": 5,
            }
        )
        self._consumer = consumer  # closed by read_to_end if what follows raises
        metadata = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        if metadata.error is not None or not metadata.partitions:
            # a topic with no partitions would be "at its end" for good
            raise KafkaException(metadata.error or f"{self.topic} has no partitions")
        for partition in metadata.partitions:  # positions survive a reopened consumer
            self._next.setdefault(partition, 0)
        return consumer

    def _close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


class LocationDirectory:
    def __init__(self, settings: Settings, serde: AvroSerde, max_age: float = 1.0) -> None:
        self.serde = serde
        self.max_age = max_age
        self.view = TopicView(settings, LOCATIONS.name(settings.topic_prefix), self._absorb)
        self._sites: dict[str, dict] = {}

    def sites(self, refresh: bool = False) -> dict[str, dict]:
        """location_id -> what planning needs of it."""
        if refresh or time.monotonic() - self.view.read_at > self.max_age:
            self.view.read_to_end()
        return self._sites

    def unknown(self, locations: list[str]) -> list[str]:
        """Those of the locations the topic has never had."""
        missing = [loc for loc in locations if loc not in self.sites()]
        if missing:
            missing = [loc for loc in missing if loc not in self.sites(refresh=True)]
        return missing

    def _absorb(self, message: Message) -> None:
        decoded = _decoded(self.serde, message)
        if decoded is None or problems(*decoded, message.key(), LOCATIONS):
            return
        record = decoded[1]
        self._sites[record["location_id"]] = {name: record[name] for name in PLANNING_FIELDS}


class AvailabilityView:
    """sku -> location -> units available, from the movements each SKU's owner publishes
    with the position they leave (a re-sent older one never overwrites a newer one)."""

    def __init__(self, settings: Settings, serde: AvroSerde) -> None:
        self.serde = serde
        topic = INVENTORY_MOVEMENTS.name(settings.topic_prefix)
        self.view = TopicView(settings, topic, self._absorb)
        self._available: dict[str, dict[str, tuple[int, int]]] = {}  # -> (version, units)

    def refresh(self) -> None:
        self.view.read_to_end()

    def of(self, sku: str) -> dict[str, int]:
        return {loc: units for loc, (_, units) in self._available.get(sku, {}).items()}

    def _absorb(self, message: Message) -> None:
        decoded = _decoded(self.serde, message)
        if decoded is None:
            return
        movement = decoded[1]
        positions = self._available.setdefault(movement["sku"], {})
        version, _ = positions.get(movement["location_id"], (-1, 0))
        if movement["version"] >= version:
            units = movement["on_hand"] - movement["reserved"]
            positions[movement["location_id"]] = (movement["version"], units)


def _decoded(serde: AvroSerde, message: Message) -> tuple[str, dict] | None:
    try:
        return serde.decode(message.value())
    except (ValueError, KeyError):  # undecodable: dead-lettered by the intake
        return None
