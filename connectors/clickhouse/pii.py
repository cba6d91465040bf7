"""Personal data kept out of ClickHouse: the keyed customer hash and the raw_events scrub.

customer_key is the one HMAC of a customer id that analysts see instead of the id (the order
state machine puts it on orders.customer_key; the scrub puts it in raw_events.payload), so
one customer's rows join across tables without anyone learning who the customer is.

scrub_payload takes the canonical JSON of an event (schemas/canonical.py) and returns a copy
without direct identifiers:

- a customer id becomes `customer_key` (the keyed hash);
- email, phone, a person's name and street lines are dropped, wherever they appear;
- an address (shipping_address, billing_address, customer ...) keeps only its country,
  region, city and the first POSTAL_PREFIX characters of its postal code: coordinates
  locate a home as precisely as its street line, so they go too.

Everything else (SKUs, quantities, locations of warehouses and carrier scans) is kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import cache
from typing import Any

POSTAL_PREFIX = 3

# dropped wherever they appear, at any depth
_ALWAYS_DROPPED = frozenset(
    {
        "email",
        "recipient_email",
        "phone",
        "phone_number",
        "mobile",
        "line1",
        "line2",
        "line3",
        "address_line1",
        "address_line2",
        "street",
        "first_name",
        "last_name",
        "full_name",
        "recipient_name",
        "company",
    }
)
# objects that describe a person or a person's address: only these fields survive
_PERSONAL_OBJECTS = frozenset(
    {"customer", "shipping_address", "billing_address", "address", "recipient", "contact"}
)
_ADDRESS_KEPT = frozenset({"country", "region", "city", "postal_code"})
_CUSTOMER_ID = "customer_id"
_CUSTOMER_KEY = "customer_key"

CustomerKey = Callable[[str], str]


def customer_key(secret: str | bytes, customer_id: str) -> str:
    """The keyed hash analysts see instead of a customer id (32 hex digits of HMAC-SHA256)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()[:32]


def customer_keyer(secret: str | bytes) -> CustomerKey:
    """customer_key with the secret bound."""
    return lambda customer_id: customer_key(secret, customer_id)


@cache
def configured_keyer() -> CustomerKey:
    """customer_key under this process's OMS_CUSTOMER_KEY_SECRET (the settings the worker
    and the sink share through the environment)."""
    from oms.settings import Settings

    return customer_keyer(Settings().customer_key_secret.get_secret_value())


def scrub_payload(payload: dict, key: CustomerKey) -> dict:
    """A copy of an event's canonical JSON without direct identifiers (see the module doc)."""
    return _scrub(payload, key, personal=False)


def _scrub(value: Any, key: CustomerKey, personal: bool) -> Any:
    if isinstance(value, list):
        return [_scrub(item, key, personal) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for name, item in value.items():
        lowered = name.lower()
        if lowered in _ALWAYS_DROPPED:
            continue
        if lowered == _CUSTOMER_ID:
            if isinstance(item, str) and item:
                out[_CUSTOMER_KEY] = key(item)
            continue
        if personal and isinstance(item, dict | list):
            out[name] = _scrub(item, key, personal=True)
            continue
        if personal and lowered not in _ADDRESS_KEPT:
            continue
        if personal and lowered == "postal_code" and isinstance(item, str):
            out[name] = postal_prefix(item)
            continue
        out[name] = _scrub(item, key, personal=lowered in _PERSONAL_OBJECTS)
    return out


def postal_prefix(postal_code: str) -> str:
    """The first POSTAL_PREFIX characters of a postal code (a region, not a street)."""
    return postal_code.strip()[:POSTAL_PREFIX]
