"""The signature a forwarded callback carries, and how its consumer checks it.

Each forward carries ``X-Relaywarden-Timestamp`` (Unix seconds) and
``X-Relaywarden-Signature: v1=<hex>``, where ``<hex>`` is the HMAC-SHA256, keyed with
``RELAYWARDEN_FORWARD_SECRET``, of the timestamp, a ``.``, and the raw body. A consumer
recomputes it over the bytes it received, compares in constant time and refuses
timestamps far from its clock (a replayed old forward). ``verify`` is that recipe.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "signature",
    "verify",
]

SIGNATURE_HEADER = "x-relaywarden-signature"
TIMESTAMP_HEADER = "x-relaywarden-timestamp"
_SCHEME = "v1="


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Relaywarden-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return _SCHEME + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str | None,
    body: bytes,
    given: str | None,
    *,
    tolerance_seconds: float = 300.0,
    now: float | None = None,
) -> bool:
    """True when ``given`` signs ``body`` at ``timestamp`` and the timestamp is recent."""
    if not timestamp or not given or not timestamp.isdigit():
        return False
    clock = time.time() if now is None else now
    if abs(clock - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given)
