"""Synthetic canonical events in bulk (orders and carrier scans) for benchmarks and crash tests.

Deterministic for a seed. The realistic traffic generator is `oms simulate`; this one only
needs to be valid, varied in keys and cheap to produce.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from schemas.canonical import format_timestamp

_START = datetime(2026, 11, 1, tzinfo=UTC)
_STATUSES = ("pre_transit", "in_transit", "out_for_delivery", "delivered")


def synthetic_events(count: int, seed: int = 1) -> Iterator[dict]:
    """Alternates an OrderPlaced and a CarrierScan for its parcel, one second apart."""
    rng = random.Random(seed)
    for i in range(count):
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        occurred_at = format_timestamp(_START + timedelta(seconds=i))
        order = i // 2
        if i % 2 == 0:
            lines = [
                {
                    "line_id": f"L{n}",
                    "sku": f"SKU-{rng.randrange(500)}",
                    "quantity": rng.randint(1, 3),
                    "unit_price": "19.99",
                }
                for n in range(1, rng.randint(1, 4) + 1)
            ]
            customer = f"C{rng.randrange(5000)}"
            yield order_placed(
                event_id, f"ORD-{seed}-{order}", occurred_at, lines, (39.78, -89.65), customer
            ) | {"channel": rng.choice(("web", "marketplace", "pos"))}
        else:
            yield {
                "event_id": event_id,
                "type": "CarrierScan",
                "occurred_at": occurred_at,
                "source": "synthetic",
                "tracking_number": f"1Z{seed}{order:09d}",
                "carrier": rng.choice(("ups", "fedex", "usps")),
                "status": rng.choice(_STATUSES),
            }


def order_placed(
    event_id: str,
    order_id: str,
    occurred_at,
    lines: list[dict],
    to: tuple[float, float],
    customer_id: str,
) -> dict:
    """An OrderPlaced event (canonical field names) shipping to the coordinates `to`."""
    return {
        "event_id": event_id,
        "type": "OrderPlaced",
        "occurred_at": occurred_at,
        "source": "synthetic",
        "order_id": order_id,
        "channel": "web",
        "customer": {"customer_id": customer_id, "email": "a@example.com"},
        "shipping_address": {
            "name": "A Customer",
            "line1": "1 Main St",
            "city": "Springfield",
            "region": "IL",
            "postal_code": "62701",
            "country": "US",
            "latitude": to[0],
            "longitude": to[1],
        },
        "lines": lines,
        "currency": "USD",
        "shipping_method": "ground",
    }
