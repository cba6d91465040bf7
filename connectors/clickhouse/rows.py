"""Which ClickHouse rows an event or a dead letter becomes: pure mapping, no I/O."""

from __future__ import annotations

import json

from connectors.clickhouse.pii import CustomerKey, configured_keyer, scrub_payload
from schemas.canonical import to_canonical, to_ms


def event_rows(
    event_type: str,
    record: dict,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    customer_key: CustomerKey | None = None,
) -> list[tuple[str, dict]]:
    """raw_events (the canonical JSON without personal data: connectors/clickhouse/pii.py,
    customer ids hashed with customer_key, by default the configured one) and the row of
    the event's own table, if it has one."""
    payload = scrub_payload(to_canonical(event_type, record), customer_key or configured_keyer())
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
                "payload": json.dumps(payload, separators=(",", ":")),
            },
        )
    ]
    specific = _SPECIFIC.get(event_type)
    if specific:
        rows.append(specific(event_type, record))
    return rows


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
        "version": to_ms(r["occurred_at"]),
    }


# Order lifecycle rows (orders, order_events) come only from order-status (order_update_rows):
# the order state machine publishes every change there, input events included, under the
# same event_id, so a second row made here would give one event two different statuses.
_SPECIFIC = {
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


# The orders columns an OrderUpdate carries under the same name.
_ORDER_STATE_FIELDS = (
    "order_id",
    "channel",
    "status",
    "placed_at",
    "hold_until",
    "allocated_at",
    "picked_at",
    "packed_at",
    "shipped_at",
    "delivered_at",
    "cancelled_at",
    "cancel_reason",
    "ship_by_at",
    "promised_delivery_date",
    "shipping_country",
    "shipping_region",
    "shipping_city",
    "shipping_method",
    "line_count",
    "order_total",
    "currency",
    "customer_key",
)


def order_update_rows(record: dict) -> list[tuple[str, dict]]:
    """An order's change: its latest state (orders) and the lifecycle event (order_events)."""
    state = {name: record[name] for name in _ORDER_STATE_FIELDS}
    state["updated_at"] = record["occurred_at"]
    state["version"] = record["version"]
    event = {
        "event_id": record["event_id"],
        "order_id": record["order_id"],
        "type": record["type"],
        "status": record["status"],
        "previous_status": record["previous_status"],
        "occurred_at": record["occurred_at"],
        "location_id": record["location_id"],
        "channel": record["channel"],
        "source": "",
        "version": record["version"],
    }
    return [("orders", state), ("order_events", event)]


def allocation_row(record: dict) -> tuple[str, dict]:
    """Where an order line's units stand at one location ('' = backordered)."""
    return "order_allocations", {
        "order_id": record["order_id"],
        "line_id": record["line_id"],
        "sku": record["sku"],
        "location_id": record["location_id"],
        "quantity": record["quantity"],
        "state": record["state"],
        "updated_at": record["occurred_at"],
        "version": record["version"],
    }


def notification_row(record: dict) -> tuple[str, dict]:
    """A customer notification without its PII: the recipient's email and name stay in Kafka.

    payload is the template details as compact JSON (keys sorted, so a replay writes the same
    text). A detail whose value is the recipient's email or name is left out as well, so
    ClickHouse holds no PII even if a producer copies the recipient into the details.
    """
    personal = {
        value.strip().casefold()
        for value in (record.get("recipient_email"), record.get("recipient_name"))
        if value and value.strip()
    }
    details = {
        name: value
        for name, value in record["details"].items()
        if not any(p in value.casefold() for p in personal)
    }
    return "notifications", {
        "notification_id": record["notification_id"],
        "order_id": record["order_id"],
        "kind": record["kind"],
        "due_at": record["due_at"],
        "recipient_key": record["recipient_key"],
        "tracking_url": record["tracking_url"],
        "payload": json.dumps(details, separators=(",", ":"), sort_keys=True),
        "created_at": record["occurred_at"],
    }


def delivery_exception_row(record: dict) -> tuple[str, dict]:
    """A delivery exception's latest state (opened, or resolved with resolved_at)."""
    return "delivery_exceptions", {
        "exception_id": record["exception_id"],
        "kind": record["kind"],
        "state": record["state"],
        "severity": record["severity"],
        "tracking_number": record["tracking_number"],
        "shipment_id": record["shipment_id"],
        "order_id": record["order_id"],
        "carrier": record["carrier"],
        "status_detail": record["status_detail"],
        "carrier_code": record["carrier_code"],
        "detail": record["detail"],
        "region": record["region"],
        "origin_location_id": record["origin_location_id"],
        "opened_at": record["opened_at"],
        "resolved_at": record["resolved_at"],
        "updated_at": record["occurred_at"],
        "version": record["version"],
    }


def shipment_row(record: dict) -> tuple[str, dict]:
    """A shipment as handed to the carrier (ShipmentRecorded: version 0, label_created) or
    as tracking sees it after a scan or a rule (ShipmentStatus: later versions, which win
    under FINAL)."""
    status = record.get("status", "label_created")
    return "shipments", {
        **{name: record[name] for name in _SHIPMENT_FIELDS},
        "status": status,
        "status_detail": record.get("status_detail", ""),
        "delivered_at": record.get("delivered_at"),
        "latest_estimated_delivery_date": record.get("latest_estimated_delivery_date"),
        "last_scan_at": record.get("last_scan_at"),
        "updated_at": record.get("occurred_at", record["shipped_at"]),
        "version": record.get("version", 0),
    }


_SHIPMENT_FIELDS = (
    "shipment_id",
    "order_id",
    "location_id",
    "carrier",
    "service",
    "tracking_number",
    "shipped_at",
    "promised_delivery_date",
    "origin_country",
    "origin_postal_code",
    "shipping_country",
    "shipping_region",
)
