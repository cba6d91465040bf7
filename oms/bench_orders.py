"""`oms bench orders`: orders/s from placement to settled reservations, 1 to 5 lines each.

One worker (and the sink, as in every benchmark) with no fraud hold: 0 s of event time. The
orders are one second of event time apart, so an order's hold ends at the next event on its
partition and allocation follows placement; one clock sentinel per partition, published
after them and not counted, ends the holds of the last ones. Every warehouse holds enough of
every SKU to fill all the orders, so each order is reserved at its nearest warehouse.

An order is settled when the allocation rows say all units of each of its lines are
reserved or backordered. Its settling time is the Kafka timestamp of that row (when the
worker produced it), so the reading here does not add to the numbers.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)

from connectors.sources.synthetic import order_placed
from oms import processes
from oms.bench import (
    BENCH_EPOCH,
    Measurement,
    location_record,
    peak_rss_mib,
    publish_records,
    receipts,
    wait_caught_up,
)
from oms.kafka_admin import GroupProgress
from oms.localkafka import free_port
from oms.pipeline import LocalPipeline
from oms.settings import Settings
from schemas.serde import AvroSerde
from streams.topics import ALLOCATIONS, INVENTORY, LOCATIONS, ORDERS, STOCK_COMMANDS, STOCK_REPLIES

WAREHOUSES = (  # location id, latitude, longitude
    ("WH-NJ", 40.74, -74.17),
    ("WH-GA", 33.75, -84.39),
    ("WH-TX", 32.78, -96.80),
    ("WH-CA", 34.05, -118.24),
)
SETTLED_STATES = ("reserved", "backordered")
STALLED_AFTER = 180.0  # seconds without a newly settled order: give up


@dataclass
class OrderRun:
    orders: Measurement
    lines: Measurement
    reserve_commands: Measurement
    worker_messages: Measurement
    latencies: list[float]  # seconds, order published -> settled, one per order
    input_events: int  # published on the input topics in this run (locations, stock, orders)
    refused: int  # reservations the SKU owners refused (re-planned)
    backordered_lines: int

    def latency(self, quantile: float) -> float:
        """Nearest-rank percentile, seconds."""
        ranked = sorted(self.latencies)
        return ranked[max(0, math.ceil(quantile * len(ranked)) - 1)]


def order_record(order_id: str, at: datetime, lines: list[dict], rng: random.Random) -> dict:
    event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    to = (round(rng.uniform(25.0, 48.0), 4), round(rng.uniform(-123.0, -70.0), 4))
    record = order_placed(event_id, order_id, at, lines, to, f"C{rng.randrange(100_000)}")
    del record["type"]  # an Avro record, not a canonical event
    return record


def generate_orders(count: int, skus: int, seed: int) -> list[tuple[str, dict, str]]:
    """(event type, record, key): OrderPlaced, one second of event time apart, 1 to 5 lines
    of distinct SKUs, 1 to 3 units each."""
    rng = random.Random(seed)
    orders = []
    for i in range(count):
        order_id = f"BO-{seed}-{i}"
        lines = [
            {
                "line_id": f"L{n}",
                "sku": f"SKU-{sku}",
                "quantity": rng.randint(1, 3),
                "unit_price": Decimal(rng.randint(100, 20_000)).scaleb(-2),
            }
            for n, sku in enumerate(rng.sample(range(skus), rng.randint(1, 5)), start=1)
        ]
        at = BENCH_EPOCH + timedelta(seconds=i + 1)
        orders.append(("OrderPlaced", order_record(order_id, at, lines, rng), order_id))
    return orders


def clock_sentinels(partitions: int, at: datetime, seed: int) -> list[tuple[str, dict, str]]:
    """One order per partition of the orders topic, keyed to land there: behind the measured
    orders of its partition, its event time ends their holds. Its own hold never ends."""
    rng = random.Random(seed)
    ids = list(range(partitions))
    keys: dict[int, str] = {}
    n = 0
    while len(keys) < partitions:
        order_id = f"BO-{seed}-clock-{n}"
        keys.setdefault(DefaultPartitioner()(order_id.encode(), ids, ids), order_id)
        n += 1
    line = {"line_id": "L1", "sku": "SKU-0", "quantity": 1, "unit_price": Decimal("1.00")}
    return [("OrderPlaced", order_record(k, at, [line], rng), k) for k in keys.values()]


def _reader(settings: Settings, topic: str, eof: bool) -> Consumer:
    """A consumer of every partition of the topic from the beginning (no group join)."""
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.app_id}-bench-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": eof,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    return consumer


def read_to_end(settings: Settings, topic: str) -> Iterator[dict]:
    """The records on the topic now, decoded."""
    serde = AvroSerde()
    consumer = _reader(settings, topic, eof=True)
    partitions = len(consumer.assignment())
    at_end: set[int] = set()
    try:
        while len(at_end) < partitions:
            for message in consumer.consume(1000, timeout=1.0):
                error = message.error()
                if error is None:
                    yield serde.decode(message.value())[1]
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
    finally:
        consumer.close()


def _produced_at(message: Message) -> float:
    kind, millis = message.timestamp()
    return millis / 1000 if kind != TIMESTAMP_NOT_AVAILABLE and millis > 0 else time.time()


class AllocationWatcher:
    """Follows the allocation rows until every order is settled: each line's units all
    reserved or backordered, at any locations."""

    def __init__(self, settings: Settings, wanted: dict[str, dict[str, int]]) -> None:
        """wanted: order id -> line id -> units."""
        self.wanted = wanted
        self.settled: dict[str, float] = {}  # order id -> when its settling row was produced
        self._rows: dict[str, dict[tuple[str, str], tuple[int, str]]] = {}
        self._serde = AvroSerde()
        self._consumer = _reader(settings, ALLOCATIONS.name(settings.topic_prefix), eof=False)

    def wait(self, children: list[processes.Child], on_progress: Callable[[int], None]) -> None:
        last_progress = time.monotonic()
        while len(self.settled) < len(self.wanted):
            before = len(self.settled)
            for message in self._consumer.consume(1000, timeout=0.5):
                if message.error() is None:
                    self._read(message)
            if len(self.settled) > before:
                last_progress = time.monotonic()
                on_progress(len(self.settled))
            for child in children:
                child.check_alive()
            if time.monotonic() - last_progress > STALLED_AFTER:
                raise TimeoutError(
                    f"{len(self.settled):,} of {len(self.wanted):,} orders settled, "
                    f"none more for {STALLED_AFTER:.0f}s"
                )

    def _read(self, message: Message) -> None:
        _, row = self._serde.decode(message.value())
        order_id = row["order_id"]
        if order_id not in self.wanted or order_id in self.settled:
            return
        rows = self._rows.setdefault(order_id, {})
        rows[(row["line_id"], row["location_id"])] = (row["quantity"], row["state"])
        units: Counter[str] = Counter()
        for (line_id, _), (quantity, state) in rows.items():
            if state in SETTLED_STATES:
                units[line_id] += quantity
        if units == Counter(self.wanted[order_id]):
            self.settled[order_id] = _produced_at(message)

    def backordered_lines(self) -> int:
        return sum(
            1
            for rows in self._rows.values()
            for _, state in rows.values()
            if state == "backordered"
        )

    def close(self) -> None:
        self._consumer.close()


def _stamped(
    records: Iterable[tuple[str, dict, str]], published: dict[str, float]
) -> Iterator[tuple[str, dict, str]]:
    """The records, noting the wall clock as each is handed to the producer, by key."""
    for record in records:
        published[record[2]] = time.time()
        yield record


def orders_throughput(
    settings: Settings,
    count: int,
    seed: int,
    skus: int = 500,
    on_progress: Callable[[int], None] = lambda _settled: None,
) -> OrderRun:
    """Places `count` orders on a worker that has the warehouses and their stock, and times
    from the first order published to the last order settled."""
    settings = settings.model_copy(
        update={
            "fraud_hold": timedelta(0),
            "web_port": free_port(),
            "sink_metrics_port": free_port(),
        }
    )
    orders = generate_orders(count, skus, seed)
    wanted = {key: {x["line_id"]: x["quantity"] for x in r["lines"]} for _, r, key in orders}
    demand: Counter[str] = Counter()
    for _, record, _ in orders:
        for line in record["lines"]:
            demand[line["sku"]] += line["quantity"]
    sentinels = clock_sentinels(
        settings.topic_partitions, BENCH_EPOCH + timedelta(seconds=count + 1.5), seed
    )
    stock = list(
        receipts(skus * len(WAREHOUSES), skus, [w[0] for w in WAREHOUSES], max(demand.values()))
    )

    def topic(spec) -> str:
        return spec.name(settings.topic_prefix)

    published: dict[str, float] = {}
    with LocalPipeline(settings, timeout=1800) as pipeline:
        progress = GroupProgress(settings, settings.app_id)
        try:
            publish_records(settings, topic(LOCATIONS), [location_record(*w) for w in WAREHOUSES])
            wait_caught_up(progress, pipeline, [topic(LOCATIONS)], "the locations")
            publish_records(settings, topic(INVENTORY), stock)
            wait_caught_up(progress, pipeline, [topic(INVENTORY)], "the stock")
        finally:
            progress.close()
        watcher = AllocationWatcher(settings, wanted)
        try:
            publish_records(settings, topic(ORDERS), _stamped(orders, published))
            publish_records(settings, topic(ORDERS), sentinels)
            watcher.wait(pipeline.children, on_progress)
        finally:
            watcher.close()
        rss = peak_rss_mib(pipeline.worker.process.pid)
    commands = [r for r in read_to_end(settings, topic(STOCK_COMMANDS)) if r["order_id"] in wanted]
    replies = [r for r in read_to_end(settings, topic(STOCK_REPLIES)) if r["order_id"] in wanted]
    reserves = {r["command_id"] for r in commands if r["action"] == "reserve"}
    refused = sum(1 for r in replies if r["action"] == "reserve" and not r["granted"])
    seconds = max(watcher.settled.values()) - min(published.values())
    lines = sum(len(order_lines) for order_lines in wanted.values())
    return OrderRun(
        orders=Measurement(
            f"orders placed -> reservations settled ({lines / count:.1f} lines each, 1 worker)",
            count,
            seconds,
            rss,
        ),
        lines=Measurement("order lines reserved or backordered", lines, seconds),
        worker_messages=Measurement(
            "worker input messages (the orders, their stock commands and replies)",
            count + len(commands) + len(replies),
            seconds,
        ),
        reserve_commands=Measurement(
            "reserve commands (order -> SKU owner)", len(reserves), seconds
        ),
        latencies=[watcher.settled[o] - published[o] for o in wanted],
        input_events=len(WAREHOUSES) + len(stock) + count + len(sentinels),
        refused=refused,
        backordered_lines=watcher.backordered_lines(),
    )
