"""EasyPost tracker webhooks (an Event object whose result is a Tracker) -> CarrierScan of the
tracker's latest tracking detail."""

from __future__ import annotations

from connectors.ingest.mapping import (
    Rejected,
    obj,
    optional_date,
    scan_location,
    text,
    timestamp,
)

SOURCE = "easypost"
DELIVERY_HEADER = None  # EasyPost sends none: the body's hash identifies a delivery
# EasyPost tracker statuses -> ours; the raw status is kept in carrier_code
STATUSES = {
    "pre_transit": "pre_transit",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "available_for_pickup": "available_for_pickup",
    "return_to_sender": "return_to_sender",
    "failure": "failure",
    "cancelled": "cancelled",
    "error": "exception",
    "unknown": "pre_transit",  # a tracker the carrier has not reported on yet
}
_TRACKER_EVENTS = ("tracker.updated", "tracker.created")


def tracker_event(payload, event_id: str) -> list[dict]:
    event = obj(payload, "event")
    description = event.get("description")
    if description not in _TRACKER_EVENTS:
        if isinstance(description, str):
            return []  # other EasyPost events (batch, refund, ...): acknowledged
        raise Rejected("event.description is missing")
    tracker = obj(event.get("result"), "event.result")
    details = tracker.get("tracking_details")
    if not isinstance(details, list):
        raise Rejected("tracker.tracking_details must be a list")
    if not details:
        return []  # nothing scanned yet
    detail = obj(details[-1], "tracking_details[-1]")
    raw = text(detail, "status", "tracking_detail", required=False) or text(
        tracker, "status", "tracker"
    )
    if raw not in STATUSES:
        raise Rejected(f"unknown EasyPost status {raw!r}"[:200])
    status_detail = text(detail, "status_detail", "tracking_detail", required=False) or text(
        tracker, "status_detail", "tracker", required=False
    )
    where = detail.get("tracking_location")
    location = (
        scan_location(where, "tracking_location", "country") if isinstance(where, dict) else None
    )
    return [
        {
            "event_id": event_id,
            "type": "CarrierScan",
            "occurred_at": timestamp(detail.get("datetime"), "tracking_detail.datetime"),
            "source": SOURCE,
            "tracking_number": text(tracker, "tracking_code", "tracker"),
            "carrier": text(tracker, "carrier", "tracker").lower(),
            "status": STATUSES[raw],
            "status_detail": None if status_detail == "unknown" else status_detail,
            "carrier_code": raw,
            "description": text(detail, "message", "tracking_detail", required=False),
            "location": location,
            "estimated_delivery_date": optional_date(tracker.get("est_delivery_date")),
        }
    ]
