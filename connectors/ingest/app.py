"""The ingest web service: webhook routes, canonical /events, /metrics.

Every route: check the signature (401), decode and map (400 with the reason), publish and
wait for Kafka's acknowledgement (200; 202 when the payload is acknowledged without an
event of ours; 503 when Kafka failed, so the sender retries). A source whose secret is not
configured answers 503 "not configured".
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from connectors.ingest import signatures
from connectors.ingest.mapping import (
    Rejected,
    aftership,
    canonical,
    decode_json,
    easypost,
    event_id_for,
    shopify,
    to_message,
    woocommerce,
)
from connectors.ingest.publisher import Publisher, PublishError
from oms.settings import Settings

REQUESTS = Counter(
    "oms_ingest_requests_total",
    "Ingest requests by source and outcome "
    "(published, acknowledged, rejected, unauthorized, not_configured, failed).",
    ["source", "outcome"],
)

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
PUBLISHER: web.AppKey[Publisher] = web.AppKey("publisher", object)

Mapper = Callable[[object, str], list[dict]]


def _answer(source: str, outcome: str, status: int, **body) -> web.Response:
    REQUESTS.labels(source, outcome).inc()
    return web.json_response({"outcome": outcome, **body}, status=status)


async def _ingest(
    request: web.Request,
    source: str,
    secret_name: str,
    verify: Callable[[bytes, bytes, str | None], bool],
    signature_header: str,
    delivery_header: str | None,
    mapper: Mapper | None,
) -> web.Response:
    settings = request.app[SETTINGS]
    secret = getattr(settings, secret_name)
    if secret is None:
        return _answer(source, "not_configured", 503, error=f"{source} ingest is not configured")
    body = await request.read()
    if not verify(secret.get_secret_value().encode(), body, request.headers.get(signature_header)):
        return _answer(source, "unauthorized", 401, error=f"bad or missing {signature_header}")
    if mapper is None:
        return _answer(source, "acknowledged", 202)
    delivery = request.headers.get(delivery_header) if delivery_header else None
    try:
        events = mapper(decode_json(body), event_id_for(source, delivery, body))
    except Rejected as exc:
        return _answer(source, "rejected", 400, error=str(exc))
    return await _publish(request, source, events)


async def _publish(request: web.Request, source: str, events: list[dict]) -> web.Response:
    prefix = request.app[SETTINGS].topic_prefix
    messages = []
    try:
        for n, event in enumerate(events):
            try:
                messages.append(to_message(event, prefix))
            except Rejected as exc:
                raise Rejected(f"event {n}: {exc}" if len(events) > 1 else str(exc)) from None
    except Rejected as exc:
        return _answer(source, "rejected", 400, error=str(exc))
    if not messages:
        return _answer(source, "acknowledged", 202)
    try:
        await request.app[PUBLISHER].publish(messages)
    except PublishError as exc:
        return _answer(source, "failed", 503, error=f"not published, retry: {exc}")
    return _answer(source, "published", 200, event_ids=[m.event_id for m in messages])


async def shopify_orders_create(request: web.Request) -> web.Response:
    return await _shopify(request, shopify.order_created)


async def shopify_orders_cancelled(request: web.Request) -> web.Response:
    return await _shopify(request, shopify.order_cancelled)


async def _shopify(request: web.Request, mapper: Mapper) -> web.Response:
    return await _ingest(
        request,
        shopify.SOURCE,
        "shopify_webhook_secret",
        signatures.verify_base64,
        "X-Shopify-Hmac-Sha256",
        shopify.DELIVERY_HEADER,
        mapper,
    )


async def woocommerce_webhook(request: web.Request) -> web.Response:
    return await _ingest(
        request,
        woocommerce.SOURCE,
        "woocommerce_webhook_secret",
        signatures.verify_base64,
        "X-WC-Webhook-Signature",
        woocommerce.DELIVERY_HEADER,
        woocommerce.by_topic(request.headers.get("X-WC-Webhook-Topic")),
    )


async def easypost_webhook(request: web.Request) -> web.Response:
    return await _ingest(
        request,
        easypost.SOURCE,
        "easypost_webhook_secret",
        signatures.verify_easypost,
        "X-Hmac-Signature",
        easypost.DELIVERY_HEADER,
        easypost.tracker_event,
    )


async def aftership_webhook(request: web.Request) -> web.Response:
    return await _ingest(
        request,
        aftership.SOURCE,
        "aftership_webhook_secret",
        signatures.verify_base64,
        "aftership-hmac-sha256",
        aftership.DELIVERY_HEADER,
        aftership.tracking_update,
    )


async def canonical_events(request: web.Request) -> web.Response:
    source = canonical.SOURCE
    token = request.app[SETTINGS].ingest_bearer_token
    if token is None:
        return _answer(source, "not_configured", 503, error="canonical ingest is not configured")
    if not signatures.verify_bearer(
        token.get_secret_value().encode(), request.headers.get("Authorization")
    ):
        return _answer(source, "unauthorized", 401, error="bad or missing bearer token")
    try:
        events = canonical.events(decode_json(await request.read()))
    except Rejected as exc:
        return _answer(source, "rejected", 400, error=str(exc))
    return await _publish(request, source, events)


async def metrics(_request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(settings: Settings, publisher: Publisher) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[SETTINGS] = settings
    app[PUBLISHER] = publisher
    app.router.add_post("/webhooks/shopify/orders-create", shopify_orders_create)
    app.router.add_post("/webhooks/shopify/orders-cancelled", shopify_orders_cancelled)
    app.router.add_post("/webhooks/woocommerce", woocommerce_webhook)
    app.router.add_post("/webhooks/easypost", easypost_webhook)
    app.router.add_post("/webhooks/aftership", aftership_webhook)
    app.router.add_post("/events", canonical_events)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    return app


def serve(settings: Settings) -> None:
    """`oms ingest`: serves until interrupted, then flushes the producer."""
    from connectors.ingest.publisher import KafkaPublisher

    publisher = KafkaPublisher(settings.producer_config())
    app = make_app(settings, publisher)

    async def close(_app: web.Application) -> None:
        publisher.close()

    app.on_cleanup.append(close)
    web.run_app(app, host=settings.ingest_host, port=settings.ingest_port, print=None)
