"""Shopify orders/create and orders/cancelled webhooks (the Order resource) -> OrderPlaced,
OrderCancelled."""

from __future__ import annotations

from connectors.ingest.mapping import Rejected, number, obj, order_lines, text, timestamp

SOURCE = "shopify"
DELIVERY_HEADER = "X-Shopify-Webhook-Id"
_CHANNELS = {"web": "web", "pos": "pos", "shopify_draft_order": "web"}
# Shopify's cancel_reason: customer, fraud, inventory, declined, staff, other
_CANCEL_REASONS = {"declined": "payment"}


def _order_id(order: dict) -> str:
    order_id = text(order, "id", "order", required=False) or text(order, "name", "order")
    return order_id


def order_created(payload, event_id: str) -> list[dict]:
    order = obj(payload, "order")
    customer = obj(order.get("customer"), "order.customer")
    email = (
        text(customer, "email", "customer", required=False)
        or text(order, "email", "order", required=False)
        or text(order, "contact_email", "order")
    )
    address = obj(order.get("shipping_address"), "order.shipping_address")
    if address.get("latitude") is None or address.get("longitude") is None:
        raise Rejected(
            "shipping_address has no latitude/longitude (Shopify geocodes addresses it can "
            "verify; this one it could not)"
        )
    lines = order_lines(order)
    shipping_lines = order.get("shipping_lines")
    method = None
    if isinstance(shipping_lines, list) and shipping_lines and isinstance(shipping_lines[0], dict):
        method = text(shipping_lines[0], "code", "shipping_lines[0]", required=False) or text(
            shipping_lines[0], "title", "shipping_lines[0]", required=False
        )
    source_name = text(order, "source_name", "order", required=False) or "web"
    return [
        {
            "event_id": event_id,
            "type": "OrderPlaced",
            "occurred_at": timestamp(order.get("created_at"), "order.created_at"),
            "source": SOURCE,
            "order_id": _order_id(order),
            "channel": _CHANNELS.get(source_name, source_name),
            "customer": {"customer_id": text(customer, "id", "customer"), "email": email},
            "shipping_address": {
                "name": text(address, "name", "shipping_address", required=False)
                or " ".join(
                    part
                    for part in (
                        text(address, "first_name", "shipping_address", required=False),
                        text(address, "last_name", "shipping_address", required=False),
                    )
                    if part
                ),
                "line1": text(address, "address1", "shipping_address"),
                "city": text(address, "city", "shipping_address"),
                "region": text(address, "province_code", "shipping_address", required=False)
                or text(address, "province", "shipping_address", required=False)
                or "",
                "postal_code": text(address, "zip", "shipping_address", required=False) or "",
                "country": text(address, "country_code", "shipping_address"),
                "latitude": number(address, "latitude", "shipping_address"),
                "longitude": number(address, "longitude", "shipping_address"),
            },
            "lines": lines,
            "currency": text(order, "currency", "order"),
            "shipping_method": method or "standard",
        }
    ]


def order_cancelled(payload, event_id: str) -> list[dict]:
    order = obj(payload, "order")
    reason = text(order, "cancel_reason", "order", required=False) or "other"
    occurred = order.get("cancelled_at") or order.get("updated_at")
    return [
        {
            "event_id": event_id,
            "type": "OrderCancelled",
            "occurred_at": timestamp(occurred, "order.cancelled_at"),
            "source": SOURCE,
            "order_id": _order_id(order),
            "reason": _CANCEL_REASONS.get(reason, reason),
        }
    ]
