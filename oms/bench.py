"""`oms bench ...`: measurements printed as numbers, each against a baseline of the same run.

Every measurement reads the same events from the same broker as its baseline (raw
consume+decode, the Python floor), so ratios mean something on a shared machine even when
the absolute numbers drift.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.sources.replay import publish_events
from connectors.sources.synthetic import synthetic_events
from oms import processes
from oms.kafka_admin import GroupProgress, create_topics
from oms.pipeline import LocalPipeline
from oms.settings import Settings
from schemas.serde import AvroSerde
from streams.topics import INPUT_TOPICS, INVENTORY, LOCATIONS

BENCH_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)  # the event time the benchmarks' data starts at


@dataclass
class Measurement:
    name: str
    events: int
    seconds: float
    peak_rss_mib: float | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def isolated(settings: Settings, name: str) -> Settings:
    """The same broker, with a run of its own: app id, topics, sink group and state."""
    return settings.model_copy(
        update={
            "app_id": f"{settings.app_id}-{name}",
            "topic_prefix": f"{settings.topic_prefix}{name}.",
            "sink_group_id": f"{settings.sink_group_id}-{name}",
            "state_dir": settings.state_dir / name,
        }
    )


def publish(settings: Settings, count: int, seed: int) -> None:
    create_topics(settings)
    producer = Producer(settings.producer_config())
    publish_events(producer, settings.topic_prefix, synthetic_events(count, seed), "bench")


def raw_consume_decode(settings: Settings, count: int) -> Measurement:
    """The Python floor: confluent-kafka consume plus Avro decode, nothing else."""
    serde = AvroSerde()
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.app_id}-raw",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([spec.name(settings.topic_prefix) for spec in INPUT_TOPICS])
    seen = 0
    started = None
    while seen < count:
        for message in consumer.consume(1000, timeout=1.0):
            if message.error():
                continue
            started = started or time.perf_counter()
            serde.decode(message.value())
            seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return Measurement("raw consume + decode (confluent-kafka, 1 process)", seen, elapsed)


def first_slice(settings: Settings, count: int) -> Measurement:
    """Worker (decode, validate, dedupe table, forward) and sink into ClickHouse, drained.

    Timed from the worker's first commit, so process start-up and recovery are excluded.
    """
    with LocalPipeline(settings, timeout=1800) as pipeline:
        progress = GroupProgress(settings, settings.app_id)
        partitions = progress.partitions(pipeline.input_topics)
        done_at_start, elapsed = _timed_from_first_commit(
            progress, partitions, pipeline, pipeline.drain
        )
        rss = peak_rss_mib(pipeline.worker.process.pid)
        progress.close()
    return Measurement(
        "first slice: worker + ClickHouse sink, end to end", count - done_at_start, elapsed, rss
    )


def _timed_from_first_commit(
    progress: GroupProgress, partitions, pipeline: LocalPipeline, until: Callable[[], None]
) -> tuple[int, float]:
    """Waits for the worker's first commit (start-up and recovery done), then times until();
    returns (records already committed at the start, seconds)."""
    processes.wait_for(
        lambda: sum(progress.committed(partitions).values()) > 0,
        pipeline.children,
        300,
        "the worker's first commit",
    )
    started = time.perf_counter()
    done_at_start = sum(progress.committed(partitions).values())
    until()
    return done_at_start, time.perf_counter() - started


def peak_rss_mib(pid: int) -> float | None:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def publish_records(settings: Settings, topic: str, records: Iterable[tuple[str, dict, str]]):
    """Avro straight from records (event type, record, key): the fast path for bulk loads."""
    serde = AvroSerde()
    producer = Producer(settings.producer_config())
    for event_type, record, key in records:
        _produce(producer, topic, serde.encode(event_type, record), key.encode())
    producer.flush()


def _produce(producer: Producer, topic: str, value: bytes, key: bytes) -> None:
    """Produces, waiting for room when the local queue is full (bulk loads outrun it)."""
    while True:
        try:
            producer.produce(topic, value, key)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.1)


def receipts(
    count: int, skus: int, locations: Sequence[str] = ("WH-1",), quantity: int | None = None
) -> Iterator[tuple[str, dict, str]]:
    """Receipts cycling through the SKUs, then on to the next location (so `skus` x
    `len(locations)` receipts stock each SKU once at each); quantity None: 1 to 7 units."""
    for n in range(count):
        sku = f"SKU-{n % skus}"
        record = {
            "event_id": str(uuid.UUID(int=n + 1, version=4)),
            "occurred_at": BENCH_EPOCH,
            "source": None,
            "sku": sku,
            "location_id": locations[n // skus % len(locations)],
            "quantity": quantity or 1 + n % 7,
            "reference": "PO-1",
        }
        yield "InventoryReceived", record, sku


def inventory_throughput(settings: Settings, count: int) -> Measurement:
    """Inventory events through intake and the stock table (movements out), worker only."""
    inventory = INVENTORY.name(settings.topic_prefix)
    with LocalPipeline(settings, timeout=1800) as pipeline:
        location = location_record("WH-1")
        publish_records(settings, LOCATIONS.name(settings.topic_prefix), [location])
        progress = GroupProgress(settings, settings.app_id)
        partitions = progress.partitions([inventory])
        publish_records(settings, inventory, receipts(count, skus=max(count // 5, 1)))
        done_at_start, elapsed = _timed_from_first_commit(
            progress,
            partitions,
            pipeline,
            lambda: wait_caught_up(progress, pipeline, [inventory], "the table"),
        )
        progress.close()
        rss = peak_rss_mib(pipeline.worker.process.pid)
    return Measurement(
        "inventory events through the stock table (1 worker)", count - done_at_start, elapsed, rss
    )


def wait_caught_up(
    progress: GroupProgress,
    pipeline: LocalPipeline,
    topics: list[str],
    what: str,
    every: float = 0.0,
) -> None:
    """Returns once the worker has committed everything on the topics, asking every `every`
    seconds (each ask costs the broker a request per partition)."""

    def caught_up() -> bool:
        time.sleep(every)
        return progress.lag(topics) == 0

    processes.wait_for(caught_up, pipeline.children, 1800, what)


def location_record(
    location_id: str, latitude: float = 40.0, longitude: float = -74.0
) -> tuple[str, dict, str]:
    record = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": BENCH_EPOCH,
        "source": None,
        "location_id": location_id,
        "name": location_id,
        "kind": "warehouse",
        "latitude": latitude,
        "longitude": longitude,
        "country": "US",
        "postal_code": "00000",
        "ships_orders": True,
    }
    return "LocationUpserted", record, location_id


def stock_table_recovery(settings: Settings, keys: int) -> Measurement:
    """Writes a stock changelog of `keys` SKU x location positions (as Faust writes them: JSON
    keys and values), then times a fresh worker from start to 'Worker ready' (recovery done)
    and reads its RSS."""
    changelog = f"{settings.app_id}-stock-changelog"
    admin = AdminClient(settings.kafka_client_config())
    admin.create_topics(
        [
            NewTopic(
                changelog,
                settings.topic_partitions,
                settings.topic_replication_factor,
                config={"cleanup.policy": "compact"},
            )
        ]
    )[changelog].result()
    producer = Producer(settings.producer_config())
    for n in range(keys):
        sku = f"SKU-{n}"
        value = json.dumps(
            {
                "sku": sku,
                "positions": {"WH-1": [n % 50, 0]},
                "reservations": {},
                "version": 1,
                "low": [],
                "out": False,
            }
        ).encode()
        _produce(producer, changelog, value, json.dumps(sku).encode())
    producer.flush()
    worker = processes.worker(settings.model_copy(update={"log_level": "info"}), "recovery")
    try:
        elapsed = time_to_ready(worker)
        rss = peak_rss_mib(worker.process.pid)
    finally:
        worker.stop()
    return Measurement(
        f"stock table recovery of {keys:,} SKU x location keys (changelog records)",
        keys,
        elapsed,
        rss,
    )


def time_to_ready(worker: processes.Child) -> float:
    """Starts the worker (its settings at log level info) and returns the seconds until its
    log says 'Worker ready': its tables recovered from their changelogs."""
    started = time.perf_counter()
    worker.start()
    processes.wait_for(
        lambda: "Worker ready" in worker.log_path.read_text(errors="replace"),
        [worker],
        1800,
        "recovery",
    )
    return time.perf_counter() - started
