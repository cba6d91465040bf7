"""`oms ingest` end to end: the real ingest service (aiohttp TestServer, the idempotent
confluent-kafka producer) into the real broker, per source with valid, tampered and
malformed payloads; the published Avro records are read back from their topics."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from confluent_kafka import Consumer
from pydantic import SecretStr

from connectors.ingest import signatures
from connectors.ingest.app import make_app
from connectors.ingest.publisher import KafkaPublisher
from connectors.sources.replay import _PARTITIONER
from oms.kafka_admin import create_topics
from schemas.serde import AvroSerde
from streams.topics import CARRIER_SCANS, INVENTORY, ORDERS

pytestmark = pytest.mark.integration

WEBHOOKS = Path(__file__).parents[1] / "fixtures" / "webhooks"
SECRET = "integration-secret"
TOKEN = "integration-token"


def fixture(name: str) -> bytes:
    return (WEBHOOKS / f"{name}.json").read_bytes()


def b64(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


# source: path, signature header, signer, payload, extra headers
SOURCES = {
    "shopify-create": (
        "/webhooks/shopify/orders-create",
        "X-Shopify-Hmac-Sha256",
        b64,
        "shopify_orders_create",
        {"X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"},
    ),
    "shopify-cancel": (
        "/webhooks/shopify/orders-cancelled",
        "X-Shopify-Hmac-Sha256",
        b64,
        "shopify_orders_cancelled",
        {"X-Shopify-Webhook-Id": "0c1e0b39-51d4-4d3a-9d0f-1f1e6b1d4a11"},
    ),
    "woocommerce": (
        "/webhooks/woocommerce",
        "X-WC-Webhook-Signature",
        b64,
        "woocommerce_order",
        {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Delivery-ID": "8d2c4e"},
    ),
    "easypost": (
        "/webhooks/easypost",
        "X-Hmac-Signature",
        lambda body: signatures.sign_easypost(SECRET.encode(), body),
        "easypost_tracker_updated",
        {},
    ),
    "aftership": (
        "/webhooks/aftership",
        "aftership-hmac-sha256",
        b64,
        "aftership_tracking_update",
        {},
    ),
    "events": (
        "/events",
        "Authorization",
        lambda _body: f"Bearer {TOKEN}",
        "canonical_events",
        {},
    ),
}
EXPECTED_TYPES = {
    "shopify-create": ["OrderPlaced"],
    "shopify-cancel": ["OrderCancelled"],
    "woocommerce": ["OrderPlaced"],
    "easypost": ["CarrierScan"],
    "aftership": ["CarrierScan"],
    "events": ["OrderPlaced", "InventoryReceived"],
}


def read_topics(settings, topics: list[str], expected: int) -> list:
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.app_id}-ingest-check",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    messages = []
    deadline = time.monotonic() + 60
    while len(messages) < expected and time.monotonic() < deadline:
        messages.extend(m for m in consumer.consume(100, timeout=1) if not m.error())
    # a little longer: nothing more than expected may arrive
    messages.extend(m for m in consumer.consume(100, timeout=2) if not m.error())
    consumer.close()
    return messages


def test_every_source_through_the_ingest_service_into_kafka(settings):
    secret = SecretStr(SECRET)
    settings = settings.model_copy(
        update={
            "shopify_webhook_secret": secret,
            "woocommerce_webhook_secret": secret,
            "easypost_webhook_secret": secret,
            "aftership_webhook_secret": secret,
            "ingest_bearer_token": SecretStr(TOKEN),
        }
    )
    create_topics(settings)
    publisher = KafkaPublisher(settings.producer_config())

    async def run() -> dict[str, list[tuple[int, dict]]]:
        client = TestClient(TestServer(make_app(settings, publisher)))
        await client.start_server()
        answers: dict[str, list[tuple[int, dict]]] = {}
        try:
            for name, (path, header, sign, payload, extra) in SOURCES.items():
                body = fixture(payload)
                tampered = body.replace(b"2026-11-2", b"2026-10-2", 1)
                malformed = b'{"id": 1, "line_items": [' if name != "events" else b"[{}]"
                requests = [
                    (body, sign(body)),  # valid
                    (body, sign(body)),  # the same delivery again
                    (tampered, sign(body)),  # body changed after signing
                    (malformed, sign(malformed)),  # signed, but not a payload
                ]
                if name == "events":
                    requests[2] = (body, "Bearer wrong")
                answers[name] = []
                for data, signature in requests:
                    response = await client.post(
                        path, data=data, headers={header: signature, **extra}
                    )
                    answers[name].append((response.status, await response.json()))
            metrics = await (await client.get("/metrics")).text()
            answers["metrics"] = [(200, {"text": metrics})]
        finally:
            await client.close()
        return answers

    try:
        answers = asyncio.run(run())
    finally:
        publisher.close()

    metrics = answers.pop("metrics")[0][1]["text"]
    expected_ids: dict[str, list[str]] = {}
    for name, replies in answers.items():
        statuses = [status for status, _ in replies]
        assert statuses == [200, 200, 401, 400], (name, replies)
        assert replies[0][1]["event_ids"] == replies[1][1]["event_ids"], name
        assert replies[3][1]["error"], name
        expected_ids[name] = replies[0][1]["event_ids"]
    assert 'oms_ingest_requests_total{outcome="unauthorized",source="easypost"}' in metrics

    prefix = settings.topic_prefix
    topics = [spec.name(prefix) for spec in (ORDERS, CARRIER_SCANS, INVENTORY)]
    published = sum(2 * len(ids) for ids in expected_ids.values())
    messages = read_topics(settings, topics, published)
    assert len(messages) == published

    serde = AvroSerde()
    by_id: dict[str, list] = {}
    for message in messages:
        event_type, record = serde.decode(message.value())
        by_id.setdefault(record["event_id"], []).append((event_type, record, message))
    for name, ids in expected_ids.items():
        assert [by_id[i][0][0] for i in ids] == EXPECTED_TYPES[name], name
        for event_id in ids:
            assert len(by_id[event_id]) == 2  # both deliveries, one event id: downstream dedupes
    for copies in by_id.values():
        for event_type, record, message in copies:
            spec = {"CarrierScan": CARRIER_SCANS, "InventoryReceived": INVENTORY}.get(
                event_type, ORDERS
            )
            key = str(record[spec.key]).encode()
            assert message.topic() == spec.name(prefix)
            assert message.key() == key
            # partitioned as replay.py (and Faust) partition the key
            partitions = list(range(settings.topic_partitions))
            assert message.partition() == _PARTITIONER(key, partitions, partitions)

    shopify_order = by_id[expected_ids["shopify-create"][0]][0][1]
    assert shopify_order["order_id"] == "5841837736160"
    assert shopify_order["source"] == "shopify"
    assert [line["sku"] for line in shopify_order["lines"]] == ["TEE-M-BLK", "TOTE-NAT"]
    scan = by_id[expected_ids["easypost"][0]][0][1]
    assert (scan["tracking_number"], scan["status"]) == ("9400110200881234567890", "in_transit")
    after = by_id[expected_ids["aftership"][0]][0][1]
    assert (after["status"], after["carrier_code"]) == ("out_for_delivery", "OutForDelivery_001")
    events = json.loads(fixture("canonical_events"))
    assert expected_ids["events"] == [event["event_id"] for event in events]


def test_a_failed_publish_answers_503(settings):
    """Kafka unreachable: no acknowledgement, so the sender is told to retry."""
    settings = settings.model_copy(update={"ingest_bearer_token": SecretStr(TOKEN)})
    config = {**settings.producer_config(), "bootstrap.servers": "127.0.0.1:9", "log_level": 0}
    publisher = KafkaPublisher(config, timeout=3)
    body = fixture("canonical_events")

    async def run():
        client = TestClient(TestServer(make_app(settings, publisher)))
        await client.start_server()
        try:
            response = await client.post(
                "/events", data=body, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            return response.status, await response.json()
        finally:
            await client.close()

    try:
        status, answer = asyncio.run(run())
    finally:
        publisher._producer.purge()
        publisher.close()
    assert status == 503 and answer["outcome"] == "failed", answer
