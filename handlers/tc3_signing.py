"""Tencent Cloud API 3.0 request signing (``TC3-HMAC-SHA256``).

The pure functions reproduce the documented test vector and agree with the official SDK
(checked in the tests); :class:`Tc3Auth` applies the scheme to outgoing ``httpx`` requests,
signing exactly the ``Content-Type`` and ``Host`` that are sent.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import NotRequired, TypedDict, Unpack

import httpx

__all__ = [
    "TC3_ALGORITHM",
    "Tc3Auth",
    "Tc3Request",
    "tc3_authorization",
    "tc3_canonical_request",
    "tc3_date",
    "tc3_signature",
    "tc3_signing_key",
    "tc3_string_to_sign",
]

TC3_ALGORITHM = "TC3-HMAC-SHA256"
_SIGNED_HEADERS = "content-type;host"


class Tc3Request(TypedDict):
    """What of a request the signature covers (the keywords of the signing functions)."""

    host: str
    content_type: str
    body: bytes
    method: NotRequired[str]
    path: NotRequired[str]
    query: NotRequired[str]


def tc3_date(timestamp: int) -> str:
    """UTC ``YYYY-MM-DD`` of a Unix timestamp (the credential scope's date)."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def tc3_canonical_request(
    *,
    content_type: str,
    host: str,
    body: bytes,
    method: str = "POST",
    path: str = "/",
    query: str = "",
) -> str:
    """Canonical request over ``content-type`` and ``host`` and the body's SHA-256."""
    return "\n".join(
        [
            method.upper(),
            path or "/",
            query,
            f"content-type:{content_type}\nhost:{host}\n",
            _SIGNED_HEADERS,
            hashlib.sha256(body).hexdigest(),
        ]
    )


def tc3_string_to_sign(canonical_request: str, *, timestamp: int, service: str) -> str:
    """``TC3-HMAC-SHA256\\n<timestamp>\\n<date>/<service>/tc3_request\\n<hash>``."""
    scope = f"{tc3_date(timestamp)}/{service}/tc3_request"
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{TC3_ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def tc3_signing_key(secret_key: str, *, date: str, service: str) -> bytes:
    """``kSigning`` of the key chain ``TC3+SecretKey → date → service → tc3_request``."""
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    return _hmac(k_service, "tc3_request")


def tc3_signature(
    secret_key: str, *, service: str, timestamp: int, **request: Unpack[Tc3Request]
) -> str:
    """Lowercase hex signature of one request (``method`` POST, ``path`` / by default)."""
    canonical = tc3_canonical_request(**request)
    string_to_sign = tc3_string_to_sign(canonical, timestamp=timestamp, service=service)
    key = tc3_signing_key(secret_key, date=tc3_date(timestamp), service=service)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def tc3_authorization(
    secret_id: str, secret_key: str, *, service: str, timestamp: int, **request: Unpack[Tc3Request]
) -> str:
    """The complete ``Authorization`` header value."""
    signature = tc3_signature(secret_key, service=service, timestamp=timestamp, **request)
    scope = f"{tc3_date(timestamp)}/{service}/tc3_request"
    return (
        f"{TC3_ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={_SIGNED_HEADERS}, Signature={signature}"
    )


class Tc3Auth(httpx.Auth):
    """Sign each outgoing request for one Tencent Cloud ``service`` (e.g. ``trtc``).

    The request must carry its ``Content-Type`` (and ``X-TC-Action``/``X-TC-Version``/
    ``X-TC-Region``, set by the caller); every attempt gets a fresh ``X-TC-Timestamp`` and
    ``Authorization``.
    """

    requires_request_body = True

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        service: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._service = service
        self._clock = clock

    def __repr__(self) -> str:
        return f"Tc3Auth(secret_id={self._secret_id!r}, service={self._service!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` in place and send it once."""
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Add ``X-TC-Timestamp`` and ``Authorization`` (the body must have been read)."""
        timestamp = int(self._clock())
        request.headers["X-TC-Timestamp"] = str(timestamp)
        request.headers["Authorization"] = tc3_authorization(
            self._secret_id,
            self._secret_key,
            service=self._service,
            timestamp=timestamp,
            host=request.headers["host"],
            content_type=request.headers.get("content-type", ""),
            body=request.content,
            method=request.method,
            path=request.url.raw_path.split(b"?", 1)[0].decode("ascii") or "/",
            query=request.url.query.decode("ascii") if request.method == "GET" else "",
        )
