"""Fuzzing the ingest HTTP/decoder layer: thousands of random and mutated payloads, correctly
signed (and some tampered), through the aiohttp app with a publisher stub. None may crash:
every request is published (200, its records decode), acknowledged (202), rejected with a
reason (400) or refused (401) - never a 5xx, every source being configured."""

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.ingest import signatures
from connectors.ingest.app import make_app
from oms.settings import Settings
from schemas.serde import AvroSerde

WEBHOOKS = Path(__file__).parents[1] / "fixtures" / "webhooks"
SECRET = b"fuzz-secret"
TOKEN = "fuzz-token"
FUZZ = settings(
    deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
)

# route, signature header, base64 or easypost, fixture, extra headers
ROUTES = {
    "shopify-create": (
        "/webhooks/shopify/orders-create",
        "X-Shopify-Hmac-Sha256",
        "shopify_orders_create",
        {},
    ),
    "shopify-cancel": (
        "/webhooks/shopify/orders-cancelled",
        "X-Shopify-Hmac-Sha256",
        "shopify_orders_cancelled",
        {},
    ),
    "woo-created": (
        "/webhooks/woocommerce",
        "X-WC-Webhook-Signature",
        "woocommerce_order",
        {"X-WC-Webhook-Topic": "order.created"},
    ),
    "woo-updated": (
        "/webhooks/woocommerce",
        "X-WC-Webhook-Signature",
        "woocommerce_order",
        {"X-WC-Webhook-Topic": "order.updated"},
    ),
    "easypost": ("/webhooks/easypost", "X-Hmac-Signature", "easypost_tracker_updated", {}),
    "aftership": ("/webhooks/aftership", "aftership-hmac-sha256", "aftership_tracking_update", {}),
    "events": ("/events", "Authorization", "canonical_events", {}),
}
FIXTURES = {name: json.loads((WEBHOOKS / f"{r[2]}.json").read_text()) for name, r in ROUTES.items()}


class Recorder:
    def __init__(self) -> None:
        self.messages = []

    async def publish(self, messages) -> None:
        self.messages.extend(messages)

    def close(self) -> None:
        pass


class Driver:
    """One app and client for many examples, on a private event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.publisher = Recorder()
        secret = SecretStr(SECRET.decode())
        app_settings = Settings(
            kafka_bootstrap_servers="unused:9092",
            shopify_webhook_secret=secret,
            woocommerce_webhook_secret=secret,
            easypost_webhook_secret=secret,
            aftership_webhook_secret=secret,
            ingest_bearer_token=SecretStr(TOKEN),
        )

        async def start() -> TestClient:
            client = TestClient(TestServer(make_app(app_settings, self.publisher)))
            await client.start_server()
            return client

        self.client = self.loop.run_until_complete(start())
        self.serde = AvroSerde()
        self.outcomes: dict[int, int] = {}

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()

    def post(self, route: str, body: bytes, tamper: bool = False) -> tuple[int, dict]:
        path, header, _, extra = ROUTES[route]
        if route == "events":
            signature = f"Bearer {TOKEN}"
        elif route == "easypost":
            signature = signatures.sign_easypost(SECRET, body)
        else:
            signature = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest()).decode()
        if tamper:
            signature = signature[:-2] + ("A=" if signature[-2:] != "A=" else "B=")
        before = len(self.publisher.messages)

        async def send():
            response = await self.client.post(path, data=body, headers={header: signature, **extra})
            if response.content_type != "application/json":
                return response.status, {"text": await response.text()}
            return response.status, await response.json()

        status, answer = self.loop.run_until_complete(send())
        self.outcomes[status] = self.outcomes.get(status, 0) + 1
        published = self.publisher.messages[before:]
        assert status < 500, (status, answer, body[:300])
        if tamper:
            assert status == 401, (status, answer)
        elif status == 200:
            assert published and len(published) == len(answer["event_ids"])
            for message in published:
                event_type, record = self.serde.decode(message.value)
                assert event_type == message.event_type
                assert record["event_id"] == message.event_id
        else:
            assert not published
            assert status in (202, 400), (status, answer)
            if status == 400:
                assert isinstance(answer["error"], str) and answer["error"]
        return status, answer


@pytest.fixture(scope="module")
def driver():
    d = Driver()
    yield d
    d.close()
    # the fuzz must reach every outcome, not just bounce off the decoder
    assert {200, 202, 400, 401} <= set(d.outcomes), d.outcomes


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        ["", "0", "-1", "19.999", "2026-11-21T08:01:00Z", "NaN", "1e400", "cancelled"]
    )
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@st.composite
def mutated(draw, route: str):
    """The route's realistic payload with a few random edits: a value replaced by random
    JSON, a key deleted, a list emptied or a value's type changed."""
    payload = copy.deepcopy(FIXTURES[route])
    if route == "events" and draw(st.booleans()):
        payload = payload[draw(st.integers(0, len(payload) - 1))]
    for _ in range(draw(st.integers(0, 3))):
        paths = list(_paths(payload))[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "stringify", "null"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "stringify":
            parent[path[-1]] = json.dumps(parent[path[-1]])
        else:
            parent[path[-1]] = None
    return payload


ROUTE_NAMES = sorted(ROUTES)


@settings(FUZZ, max_examples=1500)
@given(data=st.data())
def test_mutated_payloads(driver, data):
    route = data.draw(st.sampled_from(ROUTE_NAMES))
    payload = data.draw(mutated(route))
    driver.post(route, json.dumps(payload).encode())


@settings(FUZZ, max_examples=700)
@given(route=st.sampled_from(ROUTE_NAMES), payload=JSON_VALUES)
def test_random_json(driver, route, payload):
    driver.post(route, json.dumps(payload).encode())


@settings(FUZZ, max_examples=500)
@given(route=st.sampled_from(ROUTE_NAMES), body=st.binary(max_size=300))
def test_random_bytes(driver, route, body):
    driver.post(route, body)


@settings(FUZZ, max_examples=300)
@given(route=st.sampled_from(ROUTE_NAMES), cut=st.integers(min_value=0, max_value=4000))
def test_truncated_payloads(driver, route, cut):
    body = json.dumps(FIXTURES[route]).encode()
    driver.post(route, body[: cut % (len(body) + 1)])


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_tampered_signatures_are_refused(driver, data):
    route = data.draw(st.sampled_from([r for r in ROUTE_NAMES if r != "events"]))
    driver.post(route, json.dumps(data.draw(mutated(route))).encode(), tamper=True)


def test_the_fixtures_publish(driver):
    for route in ROUTE_NAMES:
        status, _ = driver.post(route, json.dumps(FIXTURES[route]).encode())
        assert status == (202 if route == "woo-updated" else 200), route
