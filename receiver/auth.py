"""Authentication of callbacks and of the admin API (all comparisons in constant time)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

__all__ = [
    "bearer_token_matches",
    "callback_token_valid",
    "css_sign_valid",
    "relay_callback_token",
    "token_matches",
    "trtc_sign",
    "trtc_sign_matches",
]


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def relay_callback_token(callback_token: str, relay_id: str) -> str:
    """The per-relay token minted into a relay's CallbackUrl.

    Derived from the callback token, so it is checked without a database lookup and a
    leaked per-relay URL does not reveal the main token.
    """
    digest = hmac.new(callback_token.encode(), f"relay:{relay_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def callback_token_valid(given: str | None, callback_token: str, relay_id: str | None) -> bool:
    """True for the main callback token, or for ``relay_id``'s own token."""
    if token_matches(given, callback_token):
        return True
    return relay_id is not None and token_matches(
        given, relay_callback_token(callback_token, relay_id)
    )


def trtc_sign(key: str, body: bytes) -> str:
    """TRTC callback ``Sign``: base64 of HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def trtc_sign_matches(key: str, body: bytes, sign: str | None) -> bool:
    """Constant-time check of a TRTC ``Sign`` header over the raw body bytes."""
    if not sign:
        return False
    return hmac.compare_digest(trtc_sign(key, body).encode(), sign.strip().encode())


def bearer_token_matches(authorization: str | None, expected: str) -> bool:
    """Check an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    return scheme.lower() == "bearer" and token_matches(value.strip(), expected)


def css_sign_valid(key: str, t: str | None, sign: str | None, *, now: float | None = None) -> bool:
    """Tencent CSS ``sign = md5_hex(key + t)`` with ``t`` an expiry time (Unix seconds).

    Only checked when the callback carries ``sign`` or ``t`` (unconfirmed for
    pull-to-push callbacks); the key is relaywarden's callback token.
    """
    if sign is None and t is None:
        return True
    if not sign or not t or not t.isdigit():
        return False
    if int(t) < (time.time() if now is None else now):
        return False
    expected = hashlib.md5((key + t).encode(), usedforsecurity=False).hexdigest()
    return hmac.compare_digest(expected.encode(), sign.strip().lower().encode())
