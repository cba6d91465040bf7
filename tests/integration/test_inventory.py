"""Inventory on the real broker and chDB: recovery after SIGKILL, reservations racing on two
workers, bad inventory input, reconcile."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer

from connectors.clickhouse import reconcile
from connectors.clickhouse.client import open_client
from oms import processes
from oms.localkafka import free_port
from oms.pipeline import LocalPipeline
from schemas.serde import AvroSerde
from streams.topics import STOCK_COMMANDS, STOCK_REPLIES

from .helpers import producer, publish, query
from .inventory_scenarios import inventory_events, locations, stock_command

pytestmark = pytest.mark.integration
SERDE = AvroSerde()


def send_commands(settings, commands: list[dict]) -> None:
    kafka = producer(settings)
    topic = STOCK_COMMANDS.name(settings.topic_prefix)
    for command in commands:
        kafka.produce(topic, SERDE.encode("StockCommand", command), command["sku"].encode())
    kafka.flush()


def worker_url(settings) -> str:
    return f"http://127.0.0.1:{settings.web_port}"


def live(settings, skus) -> reconcile.Stock:
    return reconcile.live_stock(worker_url(settings), set(skus))


def wait_for_live(settings, skus, expected: reconcile.Stock, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = live(settings, skus)
            if last == expected:
                return
        except OSError:
            pass
        time.sleep(0.5)
    assert last == expected


def load_locations_then_inventory(settings, pipeline, events) -> None:
    publish(settings, locations(random.Random(1)))
    pipeline.drain()
    publish(settings, events)
    pipeline.drain()


def test_stock_table_recovers_after_sigkill_and_reconciles(settings):
    events = inventory_events(random.Random(5), skus=40, count=600)
    skus = {e["sku"] for e in events}
    with LocalPipeline(settings) as pipeline:
        load_locations_then_inventory(settings, pipeline, events)
        send_commands(
            settings, [stock_command("reserve", f"SKU-{n}", "WH-A", f"ORD-{n}") for n in range(10)]
        )
        pipeline.drain()
        before = live(settings, skus)
        assert any(reserved for _, reserved in before.values())

        pipeline.worker.kill()
        pipeline.worker = processes.worker(settings, "worker-restarted").start()
        wait_for_live(settings, skus, before)
        pipeline.drain()

    client = open_client(settings.resolved_clickhouse_url)
    try:
        ledger = reconcile.ledger_stock(client)
        assert reconcile.differences("levels", ledger, reconcile.level_stock(client)) == []
        assert reconcile.differences("live", ledger, before) == []
    finally:
        client.close()


def read_replies(settings, expected: int) -> list[dict]:
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.app_id}-replies",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([STOCK_REPLIES.name(settings.topic_prefix)])
    replies = []
    deadline = time.monotonic() + 60
    while len(replies) < expected and time.monotonic() < deadline:
        for message in consumer.consume(500, timeout=1):
            if not message.error():
                replies.append(SERDE.decode(message.value())[1])
    consumer.close()
    return replies


def test_two_workers_grant_exactly_the_available_units(settings):
    settings.topic_partitions = 4
    skus = [f"HOT-{n}" for n in range(8)]
    receipts = [
        {
            "event_id": str(c["command_id"]),
            "type": "InventoryReceived",
            "occurred_at": "2026-11-02T09:00:00.000Z",
            "sku": sku,
            "location_id": "WH-A",
            "quantity": 5,
            "reference": "PO-1",
        }
        for sku in skus
        for c in [stock_command("reserve", sku, "WH-A", "x")]
    ]
    second = settings.model_copy(update={"web_port": free_port(), "sink_metrics_port": free_port()})
    with LocalPipeline(settings) as pipeline:
        publish(settings, locations(random.Random(1)))
        pipeline.drain()
        # The second worker recovers the locations (a global table) before it takes over
        # half of the partitions; locations upserted later reach it through the changelog.
        extra = processes.worker(second, "worker-2").start()
        pipeline.children.append(extra)
        try:
            publish(settings, receipts)
            pipeline.drain()
            commands = [
                stock_command("reserve", sku, "WH-A", f"ORD-{sku}-{n}")
                for n in range(20)
                for sku in skus
            ]
            send_commands(settings, commands)
            pipeline.drain()
            replies = read_replies(settings, len(commands))
            # each worker answers for every SKU, forwarding to the owner (table routing)
            for worker in (settings, second):
                wait_for_live(worker, skus, {(sku, "WH-A"): (5, 5) for sku in skus}, timeout=60)
        finally:
            extra.stop()

    assert len(replies) == len(commands)
    granted = Counter(r["sku"] for r in replies if r["granted"])
    assert granted == dict.fromkeys(skus, 5)
    levels = query(settings, "SELECT sku, on_hand, reserved, available FROM inventory_levels FINAL")
    assert sorted(levels) == [(sku, 5, 5, 0) for sku in sorted(skus)]
    signals = query(settings, "SELECT kind, count() FROM stock_signals FINAL GROUP BY kind")
    assert dict(signals) == {"low_stock": len(skus), "stock_out": len(skus)}


def test_bad_inventory_input_is_dead_lettered(settings):
    rng = random.Random(9)
    good = inventory_events(rng, skus=1, count=2)  # two receipts of SKU-0
    sku, location = good[0]["sku"], good[0]["location_id"]
    bad_events = [
        {**good[0], "event_id": "5b0c3c22-0d35-4a43-8d5e-1f2d2c7a0a01", "quantity": -4},
        {**good[0], "event_id": "5b0c3c22-0d35-4a43-8d5e-1f2d2c7a0a02", "location_id": "NOWHERE"},
        {
            "type": "InventoryTransferred",
            "event_id": "5b0c3c22-0d35-4a43-8d5e-1f2d2c7a0a03",
            "occurred_at": good[0]["occurred_at"],
            "sku": sku,
            "from_location_id": "WH-A",
            "to_location_id": "WH-B",
            "quantity": 0,
        },
    ]
    with LocalPipeline(settings) as pipeline:
        load_locations_then_inventory(settings, pipeline, [good[0], *bad_events, good[1]])
        kafka = producer(settings)
        kafka.produce(f"{settings.topic_prefix}inventory", b'{"sku": "SKU-0"}', sku.encode())
        kafka.flush()
        send_commands(
            settings,
            [
                # releasing what was never reserved changes nothing
                stock_command("release", sku, location, "ORD-NEVER"),
                # a shipment without a reservation ships from on hand
                stock_command("consume", sku, location, "ORD-NEVER"),
                stock_command("reserve", sku, location, "ORD-NEVER", quantity=0),
            ],
        )
        pipeline.drain()

    errors = sorted(e for (e,) in query(settings, "SELECT error FROM dead_letters FINAL"))
    assert len(errors) == 5
    for fragment in (
        "quantity must be > 0, got -4",
        "unknown location NOWHERE",
        "quantity must be > 0, got 0",
        "magic byte",
    ):
        assert any(fragment in e for e in errors), (fragment, errors)
    assert sum("quantity must be > 0, got 0" in e for e in errors) == 2  # transfer, reserve
    on_hand = query(settings, "SELECT sum(on_hand) FROM inventory_levels FINAL")[0][0]
    assert on_hand == good[0]["quantity"] + good[1]["quantity"] - 1
