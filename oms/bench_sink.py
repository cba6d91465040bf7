"""`oms bench sink`: rows/s into ClickHouse through the sink, with and without the KPI rollup
refresh, and the delay from publication to visibility at a steady load; the baseline is raw
consume+decode of the same records (confluent-kafka + Avro, nothing else).

The records are what the worker publishes for the sink: OrderUpdate (order placed, released,
picked, packed, shipped: orders + order_events rows) and InventoryMovement (reserved,
shipped: inventory_movements + inventory_levels rows), in event-time order, orders spread
evenly over `days` of event time. The sinks run in this process (the embedded ClickHouse
belongs to one process), with the deployment's batch size and flush interval.

Delay: a publisher in another process produces at a fixed rate; a message's publication is
its Kafka CreateTime (the produce call); it is visible once the batch holding it is written,
rollups refreshed (before the offset commit). The baseline consumer, in a third process,
reads the same messages with the sink's consume call and decodes them.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from connectors.clickhouse.client import open_client
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.sink import ClickHouseSink, pipeline_mappers
from oms.bench import BENCH_EPOCH, Measurement, _produce
from oms.kafka_admin import create_topics
from oms.settings import Settings
from schemas.serde import AvroSerde
from streams.topics import INVENTORY_MOVEMENTS, ORDER_UPDATES

# type, status after, the stamp it sets, hours after placement
_STEPS = (
    ("OrderPlaced", "on_hold", None, 0.0),
    ("Allocated", "allocated", "allocated_at", 1.0),
    ("OrderPicked", "picked", "picked_at", 2.0),
    ("OrderPacked", "packed", "packed_at", 2.5),
    ("ShipmentCreated", "shipped", "shipped_at", 3.0),
)
MESSAGES_PER_ORDER = len(_STEPS) + 2  # and two movements: reserved, shipped
ROWS_PER_MESSAGE = 2
_STAMPS = ("allocated_at", "picked_at", "packed_at", "shipped_at", "delivered_at", "cancelled_at")


def order_messages(first: int, orders: int, spacing: timedelta) -> list[tuple[str, dict, str]]:
    """(event type, record, key) of orders first..first+orders-1, placed `spacing` apart from
    the benchmarks' epoch, in event-time order."""
    items = [
        item for n in range(first, first + orders) for item in _order(n, BENCH_EPOCH + n * spacing)
    ]
    items.sort(key=lambda item: item[1]["occurred_at"])
    return items


def _order(n: int, placed: datetime) -> list[tuple[str, dict, str]]:
    order_id, sku, location = f"BO-{n}", f"SKU-{n % 500}", f"WH-{n % 3}"
    stamps: dict[str, datetime | None] = dict.fromkeys(_STAMPS)
    items, previous = [], ""
    for version, (kind, status, stamp, hours) in enumerate(_STEPS, 1):
        at = placed + timedelta(hours=hours)
        if stamp:
            stamps[stamp] = at
        items.append(("OrderUpdate", _update(n, kind, status, previous, at, version, stamps)))
        previous = status
    allocated, shipped = stamps["allocated_at"], stamps["shipped_at"]
    items.append(("InventoryMovement", _movement(n, 1, sku, location, allocated, 0, 1)))
    items.append(("InventoryMovement", _movement(n, 2, sku, location, shipped, -1, -1)))
    return [(t, r, order_id if t == "OrderUpdate" else sku) for t, r in items]


def _update(n, kind, status, previous, at, version, stamps) -> dict:
    placed = at - timedelta(hours=_STEPS[version - 1][3])
    return {
        "event_id": str(uuid.UUID(int=(n << 8) + version, version=4)),
        "order_id": f"BO-{n}",
        "type": kind,
        "status": status,
        "previous_status": previous,
        "occurred_at": at,
        "version": version,
        "location_id": f"WH-{n % 3}" if version > 2 else "",
        "channel": ("web", "app", "marketplace")[n % 3],
        "placed_at": placed,
        "hold_until": placed + timedelta(hours=1),
        **stamps,
        "cancel_reason": "",
        "ship_by_at": stamps["allocated_at"] and stamps["allocated_at"] + timedelta(days=1),
        "promised_delivery_date": (placed + timedelta(days=4)).date(),
        "shipping_country": "US",
        "shipping_region": ("NJ", "NY", "CA", "TX")[n % 4],
        "shipping_city": "Springfield",
        "shipping_method": "standard",
        "line_count": 1,
        "order_total": Decimal("19.90"),
        "currency": "USD",
        "customer_key": f"c{n % 10_000}",
    }


def _movement(n, index, sku, location, at, on_hand_delta, reserved_delta) -> dict:
    return {
        "movement_id": f"BO-{n}/{index}",
        "event_id": f"BO-{n}/{index}",
        "sku": sku,
        "location_id": location,
        "on_hand_delta": on_hand_delta,
        "reserved_delta": reserved_delta,
        "reason": "reserved" if index == 1 else "shipped",
        "order_id": f"BO-{n}",
        "occurred_at": at,
        "on_hand": 1_000_000 - n,
        "reserved": index % 2,
        "version": 2 * n + index,
    }


def encoded(
    prefix: str, first: int, orders: int, spacing: timedelta
) -> list[tuple[str, bytes, bytes]]:
    serde = AvroSerde()
    names = {
        "OrderUpdate": ORDER_UPDATES.name(prefix),
        "InventoryMovement": INVENTORY_MOVEMENTS.name(prefix),
    }
    return [
        (names[kind], key.encode(), serde.encode(kind, record))
        for kind, record, key in order_messages(first, orders, spacing)
    ]


def publish(producer_config: dict, messages: list[tuple[str, bytes, bytes]]) -> None:
    producer = Producer(producer_config)
    for topic, key, value in messages:
        _produce(producer, topic, value, key)
    producer.flush()


def topics(prefix: str) -> list[str]:
    return [spec.name(prefix) for spec in (ORDER_UPDATES, INVENTORY_MOVEMENTS)]


# --- throughput ----------------------------------------------------------------------------
class _AssignedClock:
    """Starts when the consumer gets its partitions: group joins are not timed."""

    started: float | None = None

    def on_assign(self, _consumer, _partitions) -> None:
        if self.started is None:
            self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def raw_consume_decode(settings: Settings, count: int) -> Measurement:
    """The floor: the sink's consume call and Avro decode, nothing written."""
    serde = AvroSerde()
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.sink_group_id}-raw",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    clock = _AssignedClock()
    consumer.subscribe(topics(settings.topic_prefix), on_assign=clock.on_assign)
    seen = 0
    while seen < count:
        for message in consumer.consume(
            settings.sink_batch_size, timeout=settings.sink_flush_interval
        ):
            if not message.error():
                serde.decode(message.value())
                seen += 1
    elapsed = clock.elapsed()
    consumer.close()
    return Measurement("raw consume + decode (baseline)", seen, elapsed)  # seen >= count


def _sink(settings: Settings, client, group: str, rollups: bool, cls=ClickHouseSink):
    options = {} if rollups else {"refresh_rollups": None}
    return cls(
        client,
        {
            **settings.kafka_client_config(),
            "group.id": group,
            "session.timeout.ms": int(settings.session_timeout * 1000),
        },
        pipeline_mappers(AvroSerde(), settings.topic_prefix),
        batch_size=settings.sink_batch_size,
        flush_interval=settings.sink_flush_interval,
        **options,
    )


def _drain(sink: ClickHouseSink, count: int, timeout: float = 900) -> int:
    """Steps until count messages are written (inserted, rollups refreshed, committed);
    returns how many were (the last batch may hold more)."""
    handled = 0
    deadline = time.monotonic() + timeout
    while handled < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sink wrote {handled} of {count} messages")
        handled += sink.step()
    return handled


@dataclass
class SinkRun:
    throughput: Measurement
    batches: int
    rollup_seconds: float


class _CountingSink(ClickHouseSink):
    """Counts batches and the time spent refreshing rollups."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches, self.rollup_seconds = 0, 0.0
        if self.refresh_rollups:
            refresh = self.refresh_rollups

            def timed(client, rows):
                started = time.perf_counter()
                refresh(client, rows)
                self.rollup_seconds += time.perf_counter() - started

            self.refresh_rollups = timed

    def _write(self, batch) -> bool:
        self.batches += 1
        return super()._write(batch)


def sink_throughput(settings: Settings, count: int, total: int, rollups: bool, name: str):
    """Messages already on the topics through a fresh sink into a fresh ClickHouse: timed
    from the partition assignment until at least `count` are written, then the rest of the
    `total` (untimed), so the sink is caught up. Returns (the run, the sink, its client)."""
    client = open_client(f"chdb://{(settings.state_dir / name / 'clickhouse').resolve()}")
    migrate(client)
    sink = _sink(settings, client, f"{settings.sink_group_id}-{name}", rollups, _TimedSink)
    clock = _AssignedClock()
    sink.consumer.subscribe(
        list(sink.mappers), on_assign=clock.on_assign, on_revoke=sink._on_revoke
    )
    written = _drain(sink, count)
    elapsed = clock.elapsed()
    batches, rollup_seconds = sink.batches, sink.rollup_seconds
    _drain(sink, total - written)
    label = "sink: tables + KPI rollup refresh" if rollups else "sink: tables only"
    measurement = Measurement(f"{label} (rows)", written * ROWS_PER_MESSAGE, elapsed)
    return SinkRun(measurement, batches, rollup_seconds), sink, client


class _TimedSink(_CountingSink):
    """Records, per message, the time from its CreateTime to its batch being written."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.delays: list[float] = []
        self._pending: list[float] = []
        self.mappers = {topic: self._timed(mapper) for topic, mapper in self.mappers.items()}

    def _timed(self, mapper):
        def timed(message):
            self._pending.append(message.timestamp()[1] / 1000)
            return mapper(message)

        return timed

    def _write(self, batch) -> bool:
        written = super()._write(batch)
        now = time.time()
        self.delays += [now - published for published in self._pending]
        self._pending.clear()
        return written


def _publisher(job: dict) -> None:
    """A child process: the messages, encoded first, then produced at a fixed rate."""
    messages = encoded(job["prefix"], job["first"], job["orders"], job["spacing"])
    producer = Producer(job["producer"])
    job["ready"].wait(120)
    started = time.perf_counter()
    for n, (topic, key, value) in enumerate(messages):
        pause = started + n / job["rate"] - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        _produce(producer, topic, value, key)
    producer.flush()


def _follower(job: dict) -> None:
    """A child process: the baseline consumer, from the topics' ends, until `count` messages,
    with the sink's consume call; writes each message's delay to job["out"]."""
    serde = AvroSerde()
    consumer = Consumer(
        {**job["kafka"], "group.id": job["group"], "isolation.level": "read_committed"}
    )
    metadata = consumer.list_topics(timeout=10).topics
    ends = []
    for topic in topics(job["prefix"]):
        for partition in metadata[topic].partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            ends.append(TopicPartition(topic, partition, high))
    consumer.assign(ends)
    job["ready"].set()
    delays: list[float] = []
    deadline = time.monotonic() + job["timeout"]
    while len(delays) < job["count"] and time.monotonic() < deadline:
        batch = consumer.consume(job["batch_size"], timeout=job["flush_interval"])
        stamps = []
        for message in batch:
            if not message.error():
                serde.decode(message.value())
                stamps.append(message.timestamp()[1] / 1000)
        now = time.time()
        delays += [now - published for published in stamps]
    consumer.close()
    Path(job["out"]).write_text(json.dumps(delays))


@dataclass
class Delays:
    rate: float
    messages: int
    sink: list[float]
    raw: list[float]
    batches: int


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def steady_load_delays(
    settings: Settings,
    sink: _TimedSink,
    first_order: int,
    rate: float,
    seconds: float,
    spacing: timedelta,
) -> Delays:
    """Publishes `rate` messages/s for `seconds` while the caught-up sink and the baseline
    follower read them."""
    orders = max(int(rate * seconds / MESSAGES_PER_ORDER), 1)
    count = orders * MESSAGES_PER_ORDER
    sink.delays.clear()
    sink.batches = 0
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    out = settings.state_dir / "follower-delays.json"
    timeout = seconds * 4 + 120
    follower = context.Process(
        target=_follower,
        args=(
            {
                "kafka": settings.kafka_client_config(),
                "group": f"{settings.sink_group_id}-follower",
                "prefix": settings.topic_prefix,
                "batch_size": settings.sink_batch_size,
                "flush_interval": settings.sink_flush_interval,
                "count": count,
                "timeout": timeout,
                "out": str(out),
                "ready": ready,
            },
        ),
    )
    publisher = context.Process(
        target=_publisher,
        args=(
            {
                "producer": settings.producer_config(),
                "prefix": settings.topic_prefix,
                "first": first_order,
                "orders": orders,
                "spacing": spacing,
                "rate": rate,
                "ready": ready,
            },
        ),
    )
    follower.start()
    publisher.start()
    try:
        _drain(sink, count, timeout)
    finally:
        publisher.join(60)
        follower.join(timeout)
    raw = json.loads(out.read_text())
    return Delays(rate, count, list(sink.delays), raw, sink.batches)


def prepare(settings: Settings, orders: int, spacing: timedelta) -> tuple[int, int]:
    """Creates the topics and publishes the throughput runs' messages: the orders', then a
    batch more, so that every timed consume call returns a full batch at once (none waits
    out the flush interval for a last partial batch). Returns (messages timed, published)."""
    create_topics(settings)
    extra = -(-settings.sink_batch_size // MESSAGES_PER_ORDER) + 1
    messages = encoded(settings.topic_prefix, 0, orders + extra, spacing)
    publish(settings.producer_config(), messages)
    return orders * MESSAGES_PER_ORDER, len(messages)
