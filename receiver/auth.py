"""Authentication of callbacks and of the admin API (all comparisons in constant time)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import msgspec

__all__ = [
    "bearer_token_matches",
    "callback_token_valid",
    "css_callback_signed",
    "css_sign",
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


def callback_token_valid(
    given: str | None, callback_token: str, relay_id: str | None, relay_key: str | None = None
) -> bool:
    """True for the main callback token, or for ``relay_id``'s own token.

    Per-relay tokens derive from ``relay_key`` (the callback token they were minted with,
    which a rotation keeps), or from ``callback_token`` when no other key is given.
    """
    if token_matches(given, callback_token):
        return True
    return relay_id is not None and token_matches(
        given, relay_callback_token(relay_key or callback_token, relay_id)
    )


def trtc_sign(key: str, body: bytes) -> str:
    """TRTC callback ``Sign``: base64 of HMAC-SHA256 of the raw body, keyed by the console key."""
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


#: Longest ``t`` taken: Unix seconds have 10 digits until the year 2286; anything much longer
#: is not a time, and would cost an int() of unbounded size.
_MAX_T_DIGITS = 12


class _CssSigned(msgspec.Struct):
    """The two body fields CSS signs a callback with; everything else is ignored here."""

    t: int | str | None = None
    sign: str | None = None


_CSS_SIGNED = msgspec.json.Decoder(_CssSigned)


def css_sign(key: str, t: str) -> str:
    """Tencent CSS callback ``sign``: hex MD5 of the template's callback key followed by ``t``."""
    return hashlib.md5((key + t).encode(), usedforsecurity=False).hexdigest()


def css_callback_signed(key: str, body: bytes, *, now: float | None = None) -> bool:
    """Check a CSS callback body's ``t`` (expiry, Unix seconds) and ``sign`` fields.

    Both are required; ``t`` must be plain ASCII digits (``"²"`` is a digit to
    ``str.isdigit`` but no number) and not in the past; ``sign`` is compared in constant
    time. A body that is not a JSON object carries no signature and fails.
    """
    try:
        fields = _CSS_SIGNED.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return False  # msgspec.ValidationError is a DecodeError
    t = str(fields.t) if isinstance(fields.t, int) else (fields.t or "").strip()
    if not fields.sign or not t or len(t) > _MAX_T_DIGITS:
        return False
    if not (t.isascii() and t.isdigit()):
        return False
    if int(t) < (time.time() if now is None else now):
        return False
    expected = css_sign(key, t).encode()
    return hmac.compare_digest(expected, fields.sign.strip().lower().encode("utf-8", "replace"))
