"""connectors/clickhouse/pii.py: the customer hash and the raw_events payload scrub."""

import copy
import hashlib
import hmac
import json
from pathlib import Path

from connectors.clickhouse.pii import customer_key, customer_keyer, postal_prefix, scrub_payload
from oms.settings import Settings
from streams.orders.agents import rules_from

ROOT = Path(__file__).resolve().parents[2]
KEY = customer_keyer("test-secret")

ORDER = {
    "event_id": "c1d3fcff-2a3a-44d4-ab0a-18e8830e07bc",
    "type": "OrderPlaced",
    "occurred_at": "2026-11-20T11:07:36.307Z",
    "order_id": "SO-1",
    "customer": {"customer_id": "C-1", "email": "maya@example.com", "phone": "+1 555 0100"},
    "shipping_address": {
        "name": "Maya Goldberg",
        "line1": "214 Bedford Ave",
        "line2": "Apt 3",
        "city": "Brooklyn",
        "region": "NY",
        "postal_code": "11249",
        "country": "US",
        "latitude": 40.7171,
        "longitude": -73.9586,
    },
    "lines": [{"line_id": "L1", "sku": "SOCK", "quantity": 2, "unit_price": "12.99"}],
    "currency": "USD",
}


def test_customer_key_is_the_hmac_the_order_rules_use():
    expected = hmac.new(b"s3cret", b"C-1", hashlib.sha256).hexdigest()[:32]
    assert customer_key("s3cret", "C-1") == expected
    assert customer_key(b"s3cret", "C-1") == expected
    rules = rules_from(Settings(customer_key_secret="s3cret"))
    assert rules.customer_key("C-1") == expected


def test_order_placed_keeps_no_direct_identifiers():
    scrubbed = scrub_payload(ORDER, KEY)
    assert scrubbed["customer"] == {"customer_key": KEY("C-1")}
    assert scrubbed["shipping_address"] == {
        "city": "Brooklyn",
        "region": "NY",
        "postal_code": "112",
        "country": "US",
    }
    text = json.dumps(scrubbed)
    for value in ("maya@example.com", "Maya Goldberg", "214 Bedford", "Apt 3", "555", "C-1"):
        assert value not in text
    assert scrubbed["lines"] == ORDER["lines"]
    assert scrubbed["order_id"] == "SO-1" and scrubbed["currency"] == "USD"


def test_scrub_leaves_its_input_alone():
    before = copy.deepcopy(ORDER)
    scrub_payload(ORDER, KEY)
    assert before == ORDER


def test_a_location_keeps_its_name_and_postal_code():
    location = {
        "type": "LocationUpserted",
        "location_id": "WH-NJ",
        "name": "Secaucus DC",
        "postal_code": "07094",
        "country": "US",
    }
    assert scrub_payload(location, KEY) == location


def test_identifiers_anywhere_are_dropped_or_hashed():
    event = {"type": "X", "details": {"email": "a@b.c", "customer_id": "C-9", "phone": "1"}}
    assert scrub_payload(event, KEY) == {"type": "X", "details": {"customer_key": KEY("C-9")}}


def test_postal_prefix():
    assert postal_prefix(" SW1A 1AA ") == "SW1"
    assert postal_prefix("12") == "12"


def test_every_sample_event_is_scrubbed_of_its_personal_values():
    events = [json.loads(line) for line in (ROOT / "samples/day.jsonl").read_text().splitlines()]
    personal = {
        value
        for e in events
        if e["type"] == "OrderPlaced"
        for value in (
            e["customer"]["email"],
            e["shipping_address"]["name"],
            e["shipping_address"]["line1"],
        )
    }
    assert personal
    text = json.dumps([scrub_payload(e, KEY) for e in events])
    assert not [value for value in personal if value in text]
