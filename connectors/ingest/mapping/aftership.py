"""AfterShip tracking webhooks (event tracking_update, msg: the tracking) -> CarrierScan."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.ingest.mapping import (
    Rejected,
    obj,
    optional_date,
    scan_location,
    text,
    timestamp,
)

SOURCE = "aftership"
DELIVERY_HEADER = None  # none documented: the body's hash identifies a delivery
# AfterShip tags -> (our status, status_detail)
TAGS = {
    "Pending": ("pre_transit", None),
    "InfoReceived": ("pre_transit", None),
    "InTransit": ("in_transit", None),
    "OutForDelivery": ("out_for_delivery", None),
    "AttemptFail": ("exception", "delivery_attempted"),
    "Delivered": ("delivered", None),
    "AvailableForPickup": ("available_for_pickup", None),
    "Exception": ("exception", None),
    "Expired": ("exception", "lost"),
}
# subtags that say more than their tag
SUBTAGS = {
    "Exception_003": ("exception", "recipient_refused"),
    "Exception_004": ("exception", "customs_hold"),
    "Exception_005": ("exception", "weather_delay"),
    "Exception_007": ("exception", "address_issue"),
    "Exception_010": ("return_to_sender", None),
    "Exception_011": ("return_to_sender", None),
    "Exception_012": ("exception", "damaged"),
    "Exception_013": ("exception", "lost"),
    "AttemptFail_002": ("exception", "recipient_unavailable"),
}


def _occurred_at(payload: dict, tracking: dict, checkpoint: dict | None) -> str:
    for value in (
        checkpoint and checkpoint.get("checkpoint_time"),
        tracking.get("updated_at"),
    ):
        try:
            return timestamp(value, "checkpoint_time")
        except Rejected:
            continue
    ts = payload.get("ts")
    if isinstance(ts, int) and not isinstance(ts, bool) and 0 < ts < 32503680000:
        return timestamp(datetime.fromtimestamp(ts, UTC).isoformat(), "ts")
    raise Rejected("no time: msg.checkpoints[-1].checkpoint_time, msg.updated_at and ts missing")


def tracking_update(payload, event_id: str) -> list[dict]:
    body = obj(payload, "webhook")
    if body.get("event") not in (None, "tracking_update"):
        return []  # other webhook events: acknowledged
    tracking = obj(body.get("msg"), "msg")
    tag = text(tracking, "tag", "msg")
    if tag not in TAGS:
        raise Rejected(f"unknown AfterShip tag {tag!r}"[:200])
    subtag = text(tracking, "subtag", "msg", required=False)
    status, detail = SUBTAGS.get(subtag or "", TAGS[tag])
    checkpoints = tracking.get("checkpoints")
    checkpoint = None
    if isinstance(checkpoints, list) and checkpoints and isinstance(checkpoints[-1], dict):
        checkpoint = checkpoints[-1]
    location = (
        None if checkpoint is None else scan_location(checkpoint, "checkpoint", "country_iso3")
    )
    description = (
        checkpoint is not None and text(checkpoint, "message", "checkpoint", required=False)
    ) or text(tracking, "subtag_message", "msg", required=False)
    return [
        {
            "event_id": event_id,
            "type": "CarrierScan",
            "occurred_at": _occurred_at(body, tracking, checkpoint),
            "source": SOURCE,
            "tracking_number": text(tracking, "tracking_number", "msg"),
            "carrier": text(tracking, "slug", "msg").lower(),
            "status": status,
            "status_detail": detail,
            "carrier_code": subtag or tag,
            "description": description or None,
            "location": location,
            "estimated_delivery_date": optional_date(tracking.get("expected_delivery")),
        }
    ]
