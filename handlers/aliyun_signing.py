"""Alibaba Cloud OpenAPI request signing: V3 ``ACS3-HMAC-SHA256`` and classic RPC HMAC-SHA1.

The canonical forms follow the provider's signing documentation; the pure functions reproduce
its test vectors and agree with the official SDK's ``alibabacloud_openapi_util`` (checked in
the tests). :class:`AcsV3Auth` applies the V3 scheme to outgoing ``httpx`` requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import UTC, datetime
from typing import NotRequired, TypedDict, Unpack
from urllib.parse import parse_qsl, quote

import httpx

__all__ = [
    "ACS3_ALGORITHM",
    "Acs3Request",
    "AcsV3Auth",
    "acs3_authorization",
    "acs3_canonical_request",
    "acs3_signature",
    "acs3_string_to_sign",
    "canonical_query",
    "percent_encode",
    "rpc_signature",
    "rpc_string_to_sign",
]

ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

QueryItems = Mapping[str, str] | Iterable[tuple[str, str]]


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding of UTF-8: only ``A-Z a-z 0-9 - _ . ~`` stay as they are."""
    return quote(value, safe="~", encoding="utf-8")


def _items(query: QueryItems) -> list[tuple[str, str]]:
    return list(query.items()) if isinstance(query, Mapping) else list(query)


def canonical_query(query: QueryItems) -> str:
    """``k=v&…`` with keys and values RFC 3986-encoded, sorted by encoded key (then value)."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in _items(query))
    return "&".join(f"{k}={v}" for k, v in encoded)


class Acs3Request(TypedDict):
    """What of a request the V3 signature covers (the keywords of the signing functions)."""

    method: str
    path: NotRequired[str]
    query: QueryItems
    headers: Mapping[str, str]
    body_sha256: str


def acs3_canonical_request(
    *,
    method: str,
    path: str = "/",
    query: QueryItems,
    headers: Mapping[str, str],
    body_sha256: str,
) -> tuple[str, str]:
    """Return ``(canonical_request, signed_headers)``; every header given is signed."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        lowered[name.lower()] = value.strip()
    names = sorted(lowered)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in names)
    signed_headers = ";".join(names)
    canonical = "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            canonical_headers,
            signed_headers,
            body_sha256,
        ]
    )
    return canonical, signed_headers


def acs3_string_to_sign(canonical_request: str) -> str:
    """``ACS3-HMAC-SHA256\\n`` + hex SHA-256 of the canonical request."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ACS3_ALGORITHM}\n{digest}"


def acs3_signature(access_key_secret: str, **request: Unpack[Acs3Request]) -> str:
    """Lowercase hex HMAC-SHA256 of the V3 string-to-sign; ``headers`` are the signed ones."""
    canonical, _ = acs3_canonical_request(**request)
    string_to_sign = acs3_string_to_sign(canonical)
    mac = hmac.new(access_key_secret.encode("utf-8"), string_to_sign.encode("utf-8"), "sha256")
    return mac.hexdigest()


def acs3_authorization(
    access_key_id: str, access_key_secret: str, **request: Unpack[Acs3Request]
) -> str:
    """The complete ``Authorization`` header value for the V3 scheme."""
    _, signed_headers = acs3_canonical_request(**request)
    signature = acs3_signature(access_key_secret, **request)
    return (
        f"{ACS3_ALGORITHM} Credential={access_key_id},"
        f"SignedHeaders={signed_headers},Signature={signature}"
    )


def rpc_string_to_sign(params: Mapping[str, str], method: str) -> str:
    """``METHOD&%2F&`` + encode(sorted, RFC 3986-encoded ``k=v`` joined by ``&``)."""
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in params.items())
    joined = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(joined)}"


def rpc_signature(params: Mapping[str, str], method: str, secret: str) -> str:
    """Classic RPC ``SignatureVersion=1.0``: base64 HMAC-SHA1 keyed with ``secret + "&"``.

    ``params`` are all request parameters except ``Signature`` (including ``AccessKeyId``,
    ``SignatureMethod``, ``SignatureNonce``, ``Timestamp`` …).
    """
    string_to_sign = rpc_string_to_sign(params, method)
    mac = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), "sha1")
    return base64.b64encode(mac.digest()).decode("ascii")


def _new_nonce() -> str:
    return secrets.token_hex(16)


class AcsV3Auth(httpx.Auth):
    """Sign each outgoing request with ``ACS3-HMAC-SHA256``.

    The request must already carry ``x-acs-action`` and ``x-acs-version``. On every attempt
    this sets a fresh ``x-acs-date`` and ``x-acs-signature-nonce``, the body's
    ``x-acs-content-sha256`` and ``Authorization``. The query string is rewritten into its
    canonical RFC 3986 form so that what is sent is exactly what is signed. Signed headers:
    ``host``, ``content-type`` when present, and every ``x-acs-*`` header.
    """

    requires_request_body = True

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] | None = None,
    ) -> None:
        self._access_key_id = access_key_id
        self._access_key_secret = access_key_secret
        self._clock = clock
        self._nonce_factory = nonce_factory or _new_nonce

    def __repr__(self) -> str:
        return f"AcsV3Auth(access_key_id={self._access_key_id!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` in place and send it once."""
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Add the signing headers to ``request`` (its body must have been read)."""
        pairs = parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
        query = canonical_query(pairs)
        request.url = request.url.copy_with(query=query.encode("ascii") if query else None)
        when = datetime.fromtimestamp(self._clock(), tz=UTC)
        request.headers["x-acs-date"] = when.strftime(_DATE_FORMAT)
        request.headers["x-acs-signature-nonce"] = self._nonce_factory()
        request.headers["x-acs-content-sha256"] = hashlib.sha256(request.content).hexdigest()
        signed = {
            name: value
            for name, value in request.headers.items()
            if name in ("host", "content-type") or name.startswith("x-acs-")
        }
        request.headers["Authorization"] = acs3_authorization(
            self._access_key_id,
            self._access_key_secret,
            method=request.method,
            path=request.url.raw_path.split(b"?", 1)[0].decode("ascii") or "/",
            query=pairs,
            headers=signed,
            body_sha256=request.headers["x-acs-content-sha256"],
        )
