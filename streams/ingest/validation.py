"""Rules an event must meet beyond its Avro schema: the ones a schema cannot express.

Pure functions: (event type, record, message key, topic) -> the problems found, empty if none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from uuid import UUID

from streams.topics import TopicSpec

_CURRENCY = re.compile(r"[A-Z]{3}")


def _positive(record: dict, field: str, where: str = "") -> Iterator[str]:
    if record[field] <= 0:
        yield f"{where}{field} must be > 0, got {record[field]}"


def _lines(lines: list[dict]) -> Iterator[str]:
    if not lines:
        yield "lines must not be empty"
    seen: set[str] = set()
    for line in lines:
        if line["line_id"] in seen:
            yield f"duplicate line_id {line['line_id']!r}"
        seen.add(line["line_id"])
        yield from _positive(line, "quantity", f"line {line['line_id']}: ")
        if line.get("unit_price") is not None and line["unit_price"] < 0:
            yield f"line {line['line_id']}: unit_price must be >= 0"


def _coordinates(where: dict, label: str) -> Iterator[str]:
    if not -90 <= where["latitude"] <= 90 or not -180 <= where["longitude"] <= 180:
        yield f"{label} coordinates out of range"


def _order_placed(r: dict) -> Iterator[str]:
    yield from _lines(r["lines"])
    if not _CURRENCY.fullmatch(r["currency"]):
        yield f"currency must be an ISO 4217 code, got {r['currency']!r}"
    yield from _coordinates(r["shipping_address"], "shipping address")


def _transfer(r: dict) -> Iterator[str]:
    yield from _positive(r, "quantity")
    if r["from_location_id"] == r["to_location_id"]:
        yield "a transfer needs two different locations"


def _adjusted(r: dict) -> Iterator[str]:
    if r["delta"] == 0:
        yield "delta must not be zero"


def _counted(r: dict) -> Iterator[str]:
    if r["counted_on_hand"] < 0:
        yield "counted_on_hand must be >= 0"


_RULES = {
    "OrderPlaced": _order_placed,
    "OrderPicked": lambda r: _lines(r["lines"]),
    "OrderPacked": lambda r: _positive(r, "package_count"),
    "ShipmentCreated": lambda r: _lines(r["lines"]),
    "InventoryReceived": lambda r: _positive(r, "quantity"),
    "InventoryAdjusted": _adjusted,
    "InventoryCounted": _counted,
    "InventoryTransferred": _transfer,
    "LocationUpserted": lambda r: _coordinates(r, "location"),
}


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def problems(event_type: str, record: dict, key: bytes | None, topic: TopicSpec) -> list[str]:
    if event_type not in topic.event_types:
        return [f"{event_type} does not belong on the {topic.suffix} topic"]
    found = list(_RULES.get(event_type, lambda r: iter(()))(record))
    if not _is_uuid(record[topic.id_field]):
        found.append(f"{topic.id_field} is not a UUID: {record[topic.id_field]!r}")
    expected_key = str(record[topic.key])
    if key is None or key.decode("utf-8", "replace") != expected_key:
        found.append(f"message key {key!r} is not the event's {topic.key} {expected_key!r}")
    return found
