"""Webhook signature checks, each the platform's own scheme, all compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac

EASYPOST_PREFIX = "hmac-sha256-hex="


def _digest(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).digest()


def _same(expected: str, given: str | None) -> bool:
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))


def sign_base64(secret: bytes, body: bytes) -> str:
    """Shopify (X-Shopify-Hmac-Sha256), WooCommerce (X-WC-Webhook-Signature) and AfterShip
    (aftership-hmac-sha256): base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(_digest(secret, body)).decode()


def sign_easypost(secret: bytes, body: bytes) -> str:
    """EasyPost (X-Hmac-Signature): "hmac-sha256-hex=" + hex HMAC-SHA256 of the raw body."""
    return EASYPOST_PREFIX + _digest(secret, body).hex()


def verify_base64(secret: bytes, body: bytes, header: str | None) -> bool:
    return _same(sign_base64(secret, body), header)


def verify_easypost(secret: bytes, body: bytes, header: str | None) -> bool:
    if header is not None and header.lower().startswith(EASYPOST_PREFIX):
        header = EASYPOST_PREFIX + header[len(EASYPOST_PREFIX) :].lower()  # hex in any case
    return _same(sign_easypost(secret, body), header)


def verify_bearer(token: bytes, header: str | None) -> bool:
    if header is None or not header.startswith("Bearer "):
        return False
    return _same(token.decode(), header[len("Bearer ") :])
