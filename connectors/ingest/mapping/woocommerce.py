"""WooCommerce order webhooks (X-WC-Webhook-Topic order.created / order.updated, body: the
REST API's order) -> OrderPlaced, OrderCancelled.

WooCommerce stores no coordinates: they come from the shipping address's latitude/longitude
or from the order meta data (_shipping_latitude/_shipping_longitude, as geocoding plugins
write them); an order without them is rejected."""

from __future__ import annotations

from connectors.ingest.mapping import Rejected, number, obj, order_lines, text, timestamp

SOURCE = "woocommerce"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"
_META_KEYS = {"_shipping_latitude": "latitude", "_shipping_longitude": "longitude"}
_CHANNELS = {"checkout": "web", "store-api": "web", "rest-api": "marketplace", "admin": "pos"}


def _coordinates(order: dict, shipping: dict) -> tuple[float, float]:
    found = {k: shipping.get(k) for k in ("latitude", "longitude")}
    meta = order.get("meta_data")
    for entry in meta if isinstance(meta, list) else ():
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("key"), str)
            and entry["key"] in _META_KEYS
        ):
            field = _META_KEYS[entry["key"]]
            if found[field] in (None, ""):
                found[field] = entry.get("value")
    if found["latitude"] in (None, "") or found["longitude"] in (None, ""):
        raise Rejected("shipping address has no latitude/longitude")
    return number(found, "latitude", "shipping"), number(found, "longitude", "shipping")


def order_created(payload, event_id: str) -> list[dict]:
    order = obj(payload, "order")
    billing = obj(order.get("billing") or {}, "order.billing")
    shipping = obj(order.get("shipping"), "order.shipping")
    latitude, longitude = _coordinates(order, shipping)
    lines = order_lines(order)
    shipping_lines = order.get("shipping_lines")
    method = None
    if isinstance(shipping_lines, list) and shipping_lines and isinstance(shipping_lines[0], dict):
        method = text(shipping_lines[0], "method_id", "shipping_lines[0]", required=False)
    customer_id = text(order, "customer_id", "order", required=False)
    email = text(billing, "email", "billing")
    created_via = text(order, "created_via", "order", required=False) or "checkout"
    name = " ".join(
        p
        for p in (
            text(shipping, "first_name", "shipping", required=False),
            text(shipping, "last_name", "shipping", required=False),
        )
        if p
    )
    return [
        {
            "event_id": event_id,
            "type": "OrderPlaced",
            "occurred_at": timestamp(
                order.get("date_created_gmt"), "order.date_created_gmt", naive_is_utc=True
            ),
            "source": SOURCE,
            "order_id": text(order, "id", "order"),
            "channel": _CHANNELS.get(created_via, created_via),
            # guest checkouts have customer_id 0: the email is who they are
            "customer": {
                "customer_id": customer_id if customer_id not in (None, "0") else email,
                "email": email,
            },
            "shipping_address": {
                "name": name,
                "line1": text(shipping, "address_1", "shipping"),
                "city": text(shipping, "city", "shipping"),
                "region": text(shipping, "state", "shipping", required=False) or "",
                "postal_code": text(shipping, "postcode", "shipping", required=False) or "",
                "country": text(shipping, "country", "shipping"),
                "latitude": latitude,
                "longitude": longitude,
            },
            "lines": lines,
            "currency": text(order, "currency", "order"),
            "shipping_method": method or "standard",
        }
    ]


def order_updated(payload, event_id: str) -> list[dict]:
    """Only a cancellation is an event of ours; other updates are acknowledged, not published."""
    order = obj(payload, "order")
    if order.get("status") != "cancelled":
        return []
    return [
        {
            "event_id": event_id,
            "type": "OrderCancelled",
            "occurred_at": timestamp(
                order.get("date_modified_gmt"), "order.date_modified_gmt", naive_is_utc=True
            ),
            "source": SOURCE,
            "order_id": text(order, "id", "order"),
            "reason": "other",
        }
    ]


def by_topic(topic: str | None):
    """The mapper of a X-WC-Webhook-Topic; None: acknowledged without publishing."""
    return {"order.created": order_created, "order.updated": order_updated}.get(topic or "")
