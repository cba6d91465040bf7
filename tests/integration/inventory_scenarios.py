"""Inventory events and stock commands for the integration tests (canonical JSON / Avro)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from schemas.canonical import format_timestamp

START = datetime(2026, 11, 2, 8, tzinfo=UTC)
LOCATIONS = {
    "WH-A": (40.7, -74.0, True),
    "WH-B": (39.5, -119.8, True),
    "SHOP": (41.9, -87.6, False),
}


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def locations(rng: random.Random) -> list[dict]:
    return [
        {
            "event_id": _id(rng),
            "type": "LocationUpserted",
            "occurred_at": format_timestamp(START),
            "location_id": loc,
            "name": loc,
            "kind": "store" if not ships else "warehouse",
            "latitude": lat,
            "longitude": lon,
            "country": "US",
            "postal_code": "00000",
            "ships_orders": ships,
        }
        for loc, (lat, lon, ships) in LOCATIONS.items()
    ]


def inventory_events(rng: random.Random, skus: int, count: int) -> list[dict]:
    """Receipts first for every SKU, then a random mix of adjustments, counts, transfers."""
    events = []
    names = [f"SKU-{n}" for n in range(skus)]
    for i in range(count):
        at = format_timestamp(START + timedelta(minutes=i + 1))
        sku = names[i % skus] if i < skus * 2 else rng.choice(names)
        base = {"event_id": _id(rng), "occurred_at": at, "sku": sku}
        kind = "receive" if i < skus * 2 else rng.choice(("receive", "adjust", "count", "move"))
        location = rng.choice(list(LOCATIONS))
        if kind == "receive":
            events.append(
                {
                    **base,
                    "type": "InventoryReceived",
                    "location_id": location,
                    "quantity": rng.randint(5, 50),
                    "reference": f"PO-{i}",
                }
            )
        elif kind == "adjust":
            events.append(
                {
                    **base,
                    "type": "InventoryAdjusted",
                    "location_id": location,
                    "delta": rng.choice((-2, -1, 1, 3)),
                    "reason": "damaged",
                }
            )
        elif kind == "count":
            events.append(
                {
                    **base,
                    "type": "InventoryCounted",
                    "location_id": location,
                    "counted_on_hand": rng.randint(0, 40),
                }
            )
        else:
            source, target = rng.sample(list(LOCATIONS), 2)
            events.append(
                {
                    **base,
                    "type": "InventoryTransferred",
                    "from_location_id": source,
                    "to_location_id": target,
                    "quantity": rng.randint(1, 5),
                }
            )
    return events


def stock_command(
    action: str,
    sku: str,
    location: str,
    order: str,
    quantity: int = 1,
    line: str = "L1",
    command_id: str | None = None,
) -> dict:
    return {
        "command_id": command_id or str(uuid.uuid4()),
        "occurred_at": START + timedelta(hours=5),
        "action": action,
        "sku": sku,
        "location_id": location,
        "order_id": order,
        "line_id": line,
        "quantity": quantity,
    }
