"""Platform payloads -> canonical events (events.md), and canonical events -> Kafka messages.

A mapper takes the decoded JSON payload and the event id to give and returns the canonical
events (empty: acknowledged, nothing to publish), or raises Rejected with the reason.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from schemas.canonical import format_timestamp, to_record
from schemas.catalog import UnknownEventType
from schemas.serde import AvroSerde
from streams.ingest.validation import problems
from streams.topics import INPUT_TOPIC_BY_EVENT_TYPE

_NAMESPACE = uuid.UUID("0b7f6a5e-2c1d-5f4e-9a3b-6d8c7e1f2a40")
_SERDE = AvroSerde()


class Rejected(ValueError):
    """A payload that cannot become an event; the message is the reason given to the sender."""


@dataclass(frozen=True)
class Message:
    topic: str
    key: bytes
    value: bytes
    timestamp_ms: int
    event_type: str
    event_id: str


def event_id_for(source: str, delivery_id: str | None, body: bytes) -> str:
    """The same delivery, sent twice, gets the same id: the platform's delivery id when it
    sends one, else the body's hash."""
    identity = delivery_id.strip() if delivery_id and delivery_id.strip() else None
    identity = identity or "sha256:" + hashlib.sha256(body).hexdigest()
    return str(uuid.uuid5(_NAMESPACE, f"{source}\n{identity}"))


def decode_json(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Rejected(f"not JSON: {str(exc)[:200]}") from None


def obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise Rejected(f"{what} must be an object")
    return value


def text(container: dict, field: str, what: str, required: bool = True) -> str | None:
    value = container.get(field)
    if isinstance(value, bool) or value is None or value == "":
        if required:
            raise Rejected(f"{what}.{field} is missing")
        return None
    if isinstance(value, int | str):
        return str(value)
    raise Rejected(f"{what}.{field} must be a string")


def scan_location(where: dict, what: str, country_field: str) -> dict | None:
    """A carrier's scan place (city, state, country, zip) -> canonical, None when empty."""
    location = {
        "city": text(where, "city", what, required=False),
        "region": text(where, "state", what, required=False),
        "country": text(where, country_field, what, required=False),
        "postal_code": text(where, "zip", what, required=False),
    }
    return location if any(location.values()) else None


def number(container: dict, field: str, what: str) -> float:
    value = container.get(field)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise Rejected(f"{what}.{field} is not a number: {value!r}"[:200]) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(f"{what}.{field} is missing or not a number")
    return float(value)


def integer(container: dict, field: str, what: str) -> int:
    value = container.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejected(f"{what}.{field} must be an integer")
    return value


def money(container: dict, field: str, what: str) -> str:
    value = container.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Rejected(f"{what}.{field} must be a decimal amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Rejected(f"{what}.{field} is not a decimal amount: {value!r}"[:200]) from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2 or abs(amount) >= 10**10:
        raise Rejected(f"{what}.{field} is not an amount with at most two decimals: {value!r}")
    return f"{amount:.2f}"


def timestamp(value, what: str, naive_is_utc: bool = False) -> str:
    """An RFC 3339 / ISO 8601 timestamp from a platform -> canonical (UTC, ms)."""
    if not isinstance(value, str):
        raise Rejected(f"{what} is missing")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(f"{what} is not a timestamp: {value!r}"[:200]) from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise Rejected(f"{what} has no time zone: {value!r}")
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return format_timestamp(parsed)
    except (OverflowError, ValueError):
        raise Rejected(f"{what} is out of range: {value!r}") from None


def optional_date(value) -> str | None:
    """A date (or the date of a timestamp), or None when absent or unreadable."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


def to_message(event: dict, prefix: str) -> Message:
    """A canonical event -> the Kafka message replay.py would publish for it, validated by the
    schema and streams.ingest.validation; Rejected with every problem found."""
    try:
        event_type, record = to_record(event)
    except UnknownEventType as exc:
        raise Rejected(f"unknown event type {exc.args[0]!r}"[:200]) from None
    except ValueError as exc:
        raise Rejected(str(exc)[:500]) from None
    spec = INPUT_TOPIC_BY_EVENT_TYPE.get(event_type)
    if spec is None:
        raise Rejected(f"{event_type} is not an input event")
    try:
        value = _SERDE.encode(event_type, record)
    except ValueError as exc:
        raise Rejected(str(exc)[:500]) from None
    key = str(record[spec.key]).encode()
    found = problems(event_type, record, key, spec)
    if found:
        raise Rejected("; ".join(found)[:500])
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    try:
        event_ms = int(record["occurred_at"].timestamp() * 1000)
    except (OverflowError, ValueError):
        event_ms = now_ms
    return Message(
        topic=spec.name(prefix),
        key=key,
        value=value,
        # event time, never ahead of the wall clock (as replay.py: brokers refuse the future)
        timestamp_ms=max(0, min(event_ms, now_ms)),
        event_type=event_type,
        event_id=record["event_id"],
    )


def order_lines(order: dict) -> list[dict]:
    """line_items [{id, sku, quantity, price}] (Shopify's and WooCommerce's shape) as
    canonical order lines."""
    items = order.get("line_items")
    if not isinstance(items, list) or not items:
        raise Rejected("order.line_items must be a non-empty list")
    lines = []
    for n, raw in enumerate(items):
        where = f"line_items[{n}]"
        item = obj(raw, where)
        lines.append(
            {
                "line_id": text(item, "id", where),
                "sku": text(item, "sku", where),
                "quantity": integer(item, "quantity", where),
                "unit_price": money(item, "price", where),
            }
        )
    return lines
