"""`oms ingest`: every platform mapping, every signature scheme, and the HTTP answers (with a
publisher stub; tests/integration/test_ingest.py goes through the real broker)."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from connectors.ingest import signatures
from connectors.ingest.app import make_app
from connectors.ingest.mapping import (
    Rejected,
    aftership,
    easypost,
    event_id_for,
    shopify,
    to_message,
    woocommerce,
)
from connectors.ingest.publisher import PublishError
from oms.settings import Settings
from schemas.serde import AvroSerde

WEBHOOKS = Path(__file__).parents[1] / "fixtures" / "webhooks"
SECRET = b"whsec-test"
TOKEN = "ingest-token"
ID = "9c8b201b-567b-5ac6-af5f-2904190f13b7"


def fixture(name: str) -> dict:
    return json.loads((WEBHOOKS / f"{name}.json").read_text())


def b64(body: bytes, secret: bytes = SECRET) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


# --- signatures -------------------------------------------------------------------------


def test_base64_signature_valid_tampered_malformed():
    body = json.dumps(fixture("shopify_orders_create")).encode()
    good = b64(body)
    assert signatures.verify_base64(SECRET, body, good)
    assert not signatures.verify_base64(SECRET, body + b" ", good)  # tampered body
    assert not signatures.verify_base64(b"other", body, good)  # another secret
    assert not signatures.verify_base64(SECRET, body, good[:-4] + "AAA=")  # tampered mac
    for malformed in (None, "", "not base64 ☃", good.encode().hex()):
        assert not signatures.verify_base64(SECRET, body, malformed)


def test_easypost_signature_valid_tampered_malformed():
    body = json.dumps(fixture("easypost_tracker_updated")).encode()
    digest = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert signatures.verify_easypost(SECRET, body, f"hmac-sha256-hex={digest}")
    assert signatures.verify_easypost(SECRET, body, f"HMAC-SHA256-HEX={digest.upper()}")
    assert not signatures.verify_easypost(SECRET, body.replace(b"USPS", b"UPS"), "x" + digest)
    assert not signatures.verify_easypost(SECRET, body, digest)  # prefix missing
    assert not signatures.verify_easypost(SECRET, body + b"\n", f"hmac-sha256-hex={digest}")
    for malformed in (None, "", "hmac-sha256-hex=", "hmac-sha256-hex=zz"):
        assert not signatures.verify_easypost(SECRET, body, malformed)


def test_bearer_token():
    assert signatures.verify_bearer(b"t0k", "Bearer t0k")
    for wrong in (None, "", "t0k", "Bearer t0", "Basic t0k", "Bearer t0k2", "Bearer ☃"):
        assert not signatures.verify_bearer(b"t0k", wrong)


def test_event_id_is_stable_per_delivery():
    body = b'{"id": 1}'
    assert event_id_for("shopify", "w-1", body) == event_id_for("shopify", "w-1", b"other")
    assert event_id_for("shopify", "w-1", body) != event_id_for("shopify", "w-2", body)
    assert event_id_for("easypost", None, body) == event_id_for("easypost", "", body)
    assert event_id_for("easypost", None, body) != event_id_for("easypost", None, body + b" ")
    assert event_id_for("easypost", None, body) != event_id_for("aftership", None, body)


# --- mappings ---------------------------------------------------------------------------


def _encodes(event: dict) -> dict:
    message = to_message(event, "oms.")
    event_type, record = AvroSerde().decode(message.value)
    assert event_type == event["type"]
    return record


def test_shopify_order_created():
    (event,) = shopify.order_created(fixture("shopify_orders_create"), ID)
    assert event["order_id"] == "5841837736160"
    assert event["occurred_at"] == "2026-11-21T13:01:12.000Z"
    assert event["customer"] == {"customer_id": "7390512431328", "email": "jon.smith@example.com"}
    assert event["shipping_address"]["latitude"] == 40.4406
    assert event["shipping_address"]["region"] == "PA"
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in event["lines"]] == [
        ("TEE-M-BLK", 2, "19.00"),
        ("TOTE-NAT", 1, "23.00"),
    ]
    assert event["currency"] == "USD" and event["channel"] == "web"
    record = _encodes(event)
    assert record["event_id"] == ID and record["source"] == "shopify"
    assert to_message(event, "p.").key == b"5841837736160"


@pytest.mark.parametrize("field", ["latitude", "longitude"])
def test_shopify_address_without_coordinates_is_rejected(field):
    order = fixture("shopify_orders_create")
    order["shipping_address"][field] = None
    with pytest.raises(Rejected, match="latitude/longitude"):
        shopify.order_created(order, ID)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda o: o.pop("line_items"), "line_items"),
        (lambda o: o["line_items"][0].update(quantity="two"), "quantity"),
        (lambda o: o["line_items"][0].update(price="19.999"), "price"),
        (lambda o: o["line_items"][0].update(sku=None), "sku"),
        (lambda o: o.update(created_at="yesterday"), "created_at"),
        (lambda o: o.update(customer=None), "customer"),
        (lambda o: o["shipping_address"].update(latitude=123.0), "coordinates out of range"),
        (lambda o: o["line_items"][1].update(quantity=0), "quantity must be > 0"),
        (lambda o: o.update(currency="dollars"), "ISO 4217"),
    ],
)
def test_shopify_malformed_orders_are_rejected_with_the_reason(mutate, reason):
    order = fixture("shopify_orders_create")
    mutate(order)
    with pytest.raises(Rejected, match=reason):
        to_message(shopify.order_created(order, ID)[0], "oms.")


def test_shopify_order_cancelled():
    (event,) = shopify.order_cancelled(fixture("shopify_orders_cancelled"), ID)
    assert event["type"] == "OrderCancelled"
    assert (event["order_id"], event["reason"]) == ("5841837736160", "customer")
    assert event["occurred_at"] == "2026-11-21T14:15:40.000Z"
    _encodes(event)
    declined = fixture("shopify_orders_cancelled") | {"cancel_reason": "declined"}
    assert shopify.order_cancelled(declined, ID)[0]["reason"] == "payment"
    none = fixture("shopify_orders_cancelled") | {"cancel_reason": None}
    assert shopify.order_cancelled(none, ID)[0]["reason"] == "other"


def test_woocommerce_order_created_and_updates():
    order = fixture("woocommerce_order")
    (event,) = woocommerce.by_topic("order.created")(order, ID)
    assert event["order_id"] == "727" and event["occurred_at"] == "2026-11-21T13:20:05.000Z"
    assert event["shipping_address"]["latitude"] == 37.7825
    assert event["shipping_address"]["longitude"] == -122.4102
    assert event["lines"][0] == {
        "line_id": "315",
        "sku": "WOO-SINGLE-1",
        "quantity": 2,
        "unit_price": "3.00",
    }
    assert event["customer"] == {"customer_id": "26", "email": "maria.lopez@example.com"}
    assert event["shipping_method"] == "flat_rate"
    _encodes(event)
    updated = woocommerce.by_topic("order.updated")
    assert updated(order, ID) == []  # a processing order: nothing of ours
    (cancelled,) = updated(order | {"status": "cancelled"}, ID)
    assert cancelled["type"] == "OrderCancelled" and cancelled["order_id"] == "727"
    _encodes(cancelled)
    assert woocommerce.by_topic("product.created") is None
    no_coordinates = copy.deepcopy(order)
    no_coordinates["meta_data"] = []
    with pytest.raises(Rejected, match="latitude/longitude"):
        woocommerce.order_created(no_coordinates, ID)


def test_easypost_tracker_updated():
    (event,) = easypost.tracker_event(fixture("easypost_tracker_updated"), ID)
    assert event["tracking_number"] == "9400110200881234567890"
    assert (event["carrier"], event["status"], event["carrier_code"]) == (
        "usps",
        "in_transit",
        "in_transit",
    )
    assert event["status_detail"] == "arrived_at_facility"
    assert event["occurred_at"] == "2026-11-21T19:02:00.000Z"
    assert event["estimated_delivery_date"] == "2026-11-24"
    assert event["location"]["postal_code"] == "43217"
    _encodes(event)


@pytest.mark.parametrize(
    ("raw", "ours"),
    [
        ("pre_transit", "pre_transit"),
        ("in_transit", "in_transit"),
        ("out_for_delivery", "out_for_delivery"),
        ("delivered", "delivered"),
        ("available_for_pickup", "available_for_pickup"),
        ("return_to_sender", "return_to_sender"),
        ("failure", "failure"),
        ("cancelled", "cancelled"),
        ("error", "exception"),
        ("unknown", "pre_transit"),
    ],
)
def test_easypost_statuses(raw, ours):
    payload = fixture("easypost_tracker_updated")
    payload["result"]["tracking_details"][-1]["status"] = raw
    (event,) = easypost.tracker_event(payload, ID)
    assert (event["status"], event["carrier_code"]) == (ours, raw)
    _encodes(event)


def test_easypost_other_events_and_malformed():
    payload = fixture("easypost_tracker_updated")
    assert easypost.tracker_event(payload | {"description": "batch.created"}, ID) == []
    bad = copy.deepcopy(payload)
    bad["result"]["tracking_details"][-1]["status"] = "teleported"
    with pytest.raises(Rejected, match="teleported"):
        easypost.tracker_event(bad, ID)
    with pytest.raises(Rejected, match="result"):
        easypost.tracker_event(payload | {"result": []}, ID)
    with pytest.raises(Rejected):
        easypost.tracker_event([payload], ID)


def test_aftership_tracking_update():
    (event,) = aftership.tracking_update(fixture("aftership_tracking_update"), ID)
    assert (event["tracking_number"], event["carrier"]) == ("1Z999AA10123456784", "ups")
    assert (event["status"], event["carrier_code"]) == ("out_for_delivery", "OutForDelivery_001")
    assert event["occurred_at"] == "2026-11-23T12:28:00.000Z"
    assert event["estimated_delivery_date"] == "2026-11-23"
    assert event["location"]["city"] == "PITTSBURGH"
    _encodes(event)


@pytest.mark.parametrize(
    ("tag", "subtag", "status", "detail"),
    [
        ("InfoReceived", "InfoReceived_001", "pre_transit", None),
        ("Pending", "Pending_001", "pre_transit", None),
        ("InTransit", "InTransit_002", "in_transit", None),
        ("OutForDelivery", "OutForDelivery_003", "out_for_delivery", None),
        ("AttemptFail", "AttemptFail_001", "exception", "delivery_attempted"),
        ("Delivered", "Delivered_001", "delivered", None),
        ("AvailableForPickup", "AvailableForPickup_001", "available_for_pickup", None),
        ("Exception", "Exception_011", "return_to_sender", None),
        ("Exception", "Exception_012", "exception", "damaged"),
        ("Exception", "Exception_001", "exception", None),
        ("Expired", "Expired_001", "exception", "lost"),
    ],
)
def test_aftership_tags(tag, subtag, status, detail):
    payload = fixture("aftership_tracking_update")
    payload["msg"].update(tag=tag, subtag=subtag)
    (event,) = aftership.tracking_update(payload, ID)
    assert (event["status"], event["status_detail"], event["carrier_code"]) == (
        status,
        detail,
        subtag,
    )
    _encodes(event)


def test_aftership_malformed():
    payload = fixture("aftership_tracking_update")
    with pytest.raises(Rejected, match="tag"):
        aftership.tracking_update(payload | {"msg": payload["msg"] | {"tag": "Lost"}}, ID)
    with pytest.raises(Rejected, match="msg"):
        aftership.tracking_update(payload | {"msg": "x"}, ID)
    no_time = copy.deepcopy(payload)
    no_time["msg"]["checkpoints"] = []
    del no_time["msg"]["updated_at"]
    del no_time["ts"]
    with pytest.raises(Rejected, match="no time"):
        aftership.tracking_update(no_time, ID)


# --- the HTTP service -------------------------------------------------------------------


class RecordingPublisher:
    def __init__(self, fail: bool = False) -> None:
        self.messages = []
        self.fail = fail

    async def publish(self, messages) -> None:
        if self.fail:
            raise PublishError("broker down")
        self.messages.extend(messages)

    def close(self) -> None:
        pass


def configured(**overrides) -> Settings:
    secrets = {
        name: SecretStr(SECRET.decode())
        for name in (
            "shopify_webhook_secret",
            "woocommerce_webhook_secret",
            "easypost_webhook_secret",
            "aftership_webhook_secret",
        )
    }
    secrets["ingest_bearer_token"] = SecretStr(TOKEN)
    return Settings(kafka_bootstrap_servers="unused:9092", **(secrets | overrides))


def signed_post(source: str, payload, headers: dict | None = None) -> tuple[str, bytes, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    paths = {
        "shopify-create": ("/webhooks/shopify/orders-create", "X-Shopify-Hmac-Sha256"),
        "shopify-cancel": ("/webhooks/shopify/orders-cancelled", "X-Shopify-Hmac-Sha256"),
        "woocommerce": ("/webhooks/woocommerce", "X-WC-Webhook-Signature"),
        "easypost": ("/webhooks/easypost", "X-Hmac-Signature"),
        "aftership": ("/webhooks/aftership", "aftership-hmac-sha256"),
    }
    path, header = paths[source]
    signature = signatures.sign_easypost(SECRET, body) if source == "easypost" else b64(body)
    return path, body, {header: signature, "Content-Type": "application/json", **(headers or {})}


def call(settings: Settings, publisher, requests: list[tuple[str, str, bytes, dict]]):
    """Runs the requests against the app; returns [(status, json or text)]."""

    async def run():
        client = TestClient(TestServer(make_app(settings, publisher)))
        await client.start_server()
        try:
            answers = []
            for method, path, body, headers in requests:
                response = await client.request(method, path, data=body, headers=headers)
                if response.content_type == "application/json":
                    answers.append((response.status, await response.json()))
                else:
                    answers.append((response.status, await response.text()))
            return answers
        finally:
            await client.close()

    return asyncio.run(run())


def test_http_every_source_published_tampered_malformed():
    cases = [
        ("shopify-create", fixture("shopify_orders_create"), {}),
        ("shopify-cancel", fixture("shopify_orders_cancelled"), {}),
        ("woocommerce", fixture("woocommerce_order"), {"X-WC-Webhook-Topic": "order.created"}),
        ("easypost", fixture("easypost_tracker_updated"), {}),
        ("aftership", fixture("aftership_tracking_update"), {}),
    ]
    requests = []
    for source, payload, extra in cases:
        path, body, headers = signed_post(source, payload, extra)
        requests.append(("POST", path, body, headers))
        requests.append(("POST", path, body.replace(b"1", b"2", 1), headers))  # tampered
        path, body, headers = signed_post(source, b'{"truncated": ', extra)
        requests.append(("POST", path, body, headers))  # signed, malformed
    publisher = RecordingPublisher()
    answers = call(configured(), publisher, requests)
    for n, (status, body) in enumerate(answers):
        assert status == (200, 401, 400)[n % 3], (n, status, body)
        if status == 200:
            assert len(body["event_ids"]) == 1
        else:
            assert body["error"]
    assert [m.event_type for m in publisher.messages] == [
        "OrderPlaced",
        "OrderCancelled",
        "OrderPlaced",
        "CarrierScan",
        "CarrierScan",
    ]


def test_http_duplicate_delivery_has_the_same_event_id():
    path, body, headers = signed_post(
        "shopify-create", fixture("shopify_orders_create"), {"X-Shopify-Webhook-Id": "w-77"}
    )
    ep_path, ep_body, ep_headers = signed_post("easypost", fixture("easypost_tracker_updated"))
    publisher = RecordingPublisher()
    answers = call(
        configured(),
        publisher,
        [("POST", path, body, headers)] * 2 + [("POST", ep_path, ep_body, ep_headers)] * 2,
    )
    assert [status for status, _ in answers] == [200] * 4
    ids = [m.event_id for m in publisher.messages]
    assert ids[0] == ids[1] == event_id_for("shopify", "w-77", b"")
    assert ids[2] == ids[3] != ids[0]


def test_http_woocommerce_topics():
    order = fixture("woocommerce_order")
    requests = []
    for topic, payload in (
        ("order.updated", order),
        ("order.updated", order | {"status": "cancelled"}),
        ("product.updated", {"id": 5}),
        ("order.created", order | {"line_items": []}),
    ):
        path, body, headers = signed_post("woocommerce", payload, {"X-WC-Webhook-Topic": topic})
        requests.append(("POST", path, body, headers))
    publisher = RecordingPublisher()
    answers = call(configured(), publisher, requests)
    assert [status for status, _ in answers] == [202, 200, 202, 400]
    assert "line_items" in answers[3][1]["error"]
    assert [m.event_type for m in publisher.messages] == ["OrderCancelled"]


def test_http_canonical_events():
    events = fixture("canonical_events")
    body = json.dumps(events).encode()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bad = copy.deepcopy(events)
    bad[1]["quantity"] = -3
    publisher = RecordingPublisher()
    answers = call(
        configured(),
        publisher,
        [
            ("POST", "/events", body, auth),
            ("POST", "/events", json.dumps(events[0]).encode(), auth),
            ("POST", "/events", body, {"Authorization": "Bearer nope"}),
            ("POST", "/events", body, {}),
            ("POST", "/events", json.dumps(bad).encode(), auth),
            ("POST", "/events", b"[]", auth),
            ("POST", "/events", json.dumps([{"type": "ClockTick"}]).encode(), auth),
        ],
    )
    assert [status for status, _ in answers] == [200, 200, 401, 401, 400, 400, 400]
    assert "event 1: quantity must be > 0" in answers[4][1]["error"]
    assert [m.topic for m in publisher.messages] == ["oms.orders", "oms.inventory", "oms.orders"]
    assert publisher.messages[1].key == b"TEE-M-BLK"


def test_http_not_configured_failed_publish_and_metrics():
    settings = configured(shopify_webhook_secret=None, ingest_bearer_token=None)
    path, body, headers = signed_post("shopify-create", fixture("shopify_orders_create"))
    ep_path, ep_body, ep_headers = signed_post("easypost", fixture("easypost_tracker_updated"))
    answers = call(
        settings,
        RecordingPublisher(fail=True),
        [
            ("POST", path, body, headers),
            ("POST", "/events", b"{}", {"Authorization": "Bearer x"}),
            ("POST", ep_path, ep_body, ep_headers),
            ("GET", "/metrics", b"", {}),
        ],
    )
    assert answers[0] == (503, {"outcome": "not_configured", "error": answers[0][1]["error"]})
    assert "not configured" in answers[0][1]["error"]
    assert answers[1][0] == 503 and "not configured" in answers[1][1]["error"]
    assert answers[2][0] == 503 and answers[2][1]["outcome"] == "failed"
    metrics = answers[3][1]
    assert 'oms_ingest_requests_total{outcome="not_configured",source="shopify"}' in metrics
    assert 'oms_ingest_requests_total{outcome="failed",source="easypost"}' in metrics
