"""Which ClickHouse rows an event or a dead letter becomes: pure mapping, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from schemas.canonical import to_canonical

# The status an order reaches through each fulfillment-side event (the order state machine
# refines this once it runs; the log keeps what the event itself says).
ORDER_STATUS_AFTER = {
    "OrderPlaced": "on_hold",
    "OrderCancelled": "cancelled",
    "OrderPicked": "picked",
    "OrderPacked": "packed",
    "ShipmentCreated": "shipped",
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_ms(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def event_rows(
    event_type: str, record: dict, topic: str, partition: int, offset: int, key: bytes | None
) -> list[tuple[str, dict]]:
    rows = [
        (
            "raw_events",
            {
                "event_id": record["event_id"],
                "type": event_type,
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "key": (key or b"").decode("utf-8", "replace"),
                "occurred_at": record["occurred_at"],
                "source": record.get("source") or "",
                "payload": json.dumps(to_canonical(event_type, record), separators=(",", ":")),
            },
        )
    ]
    specific = _SPECIFIC.get(event_type)
    if specific:
        rows.append(specific(event_type, record))
    return rows


def _order_event(event_type: str, r: dict) -> tuple[str, dict]:
    return "order_events", {
        "event_id": r["event_id"],
        "order_id": r["order_id"],
        "type": event_type,
        "status": ORDER_STATUS_AFTER[event_type],
        "occurred_at": r["occurred_at"],
        "channel": r.get("channel", ""),
        "location_id": r.get("location_id", ""),
        "source": r.get("source") or "",
    }


def _carrier_scan(_: str, r: dict) -> tuple[str, dict]:
    location = r.get("location") or {}
    return "carrier_scans", {
        "event_id": r["event_id"],
        "tracking_number": r["tracking_number"],
        "carrier": r["carrier"],
        "status": r["status"],
        "status_detail": r.get("status_detail") or "",
        "carrier_code": r.get("carrier_code") or "",
        "description": r.get("description") or "",
        "location_city": location.get("city") or "",
        "location_region": location.get("region") or "",
        "location_country": location.get("country") or "",
        "location_postal_code": location.get("postal_code") or "",
        "estimated_delivery_date": r.get("estimated_delivery_date"),
        "occurred_at": r["occurred_at"],
        "source": r.get("source") or "",
    }


def _location(_: str, r: dict) -> tuple[str, dict]:
    return "locations", {
        "location_id": r["location_id"],
        "name": r["name"],
        "kind": r["kind"],
        "latitude": r["latitude"],
        "longitude": r["longitude"],
        "country": r["country"],
        "postal_code": r["postal_code"],
        "ships_orders": r["ships_orders"],
        "updated_at": r["occurred_at"],
        "version": _epoch_ms(r["occurred_at"]),
    }


_SPECIFIC = {
    **dict.fromkeys(ORDER_STATUS_AFTER, _order_event),
    "CarrierScan": _carrier_scan,
    "LocationUpserted": _location,
}


def dead_letter_row(record: dict) -> tuple[str, dict]:
    return "dead_letters", {
        "topic": record["topic"],
        "partition": record["partition"],
        "offset": record["offset"],
        "error": record["error"],
        "event_type": record.get("event_type"),
        "key": (record.get("key") or b"").decode("utf-8", "replace"),
        "received_at": record["received_at"],
    }


def movement_rows(record: dict) -> list[tuple[str, dict]]:
    """A ledger movement, and the level it leaves at its SKU and location."""
    movement = {
        name: record[name]
        for name in (
            "movement_id",
            "event_id",
            "sku",
            "location_id",
            "on_hand_delta",
            "reserved_delta",
            "reason",
            "order_id",
            "occurred_at",
        )
    }
    level = {
        "sku": record["sku"],
        "location_id": record["location_id"],
        "on_hand": record["on_hand"],
        "reserved": record["reserved"],
        "available": record["on_hand"] - record["reserved"],
        "updated_at": record["occurred_at"],
        "version": record["version"],
    }
    return [("inventory_movements", movement), ("inventory_levels", level)]


def signal_row(record: dict) -> tuple[str, dict]:
    return "stock_signals", {
        "signal_id": record["signal_id"],
        "kind": record["kind"],
        "sku": record["sku"],
        "location_id": record["location_id"],
        "available": record["available"],
        "reservations": [
            (r["order_id"], r["line_id"], r["location_id"], r["quantity"])
            for r in record["reservations"]
        ],
        "occurred_at": record["occurred_at"],
    }
