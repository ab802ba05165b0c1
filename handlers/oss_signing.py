"""Alibaba Cloud OSS signing: V4 ``OSS4-HMAC-SHA256`` requests and signed RTMP publish URLs.

The pure functions agree with the official ``oss2`` SDK (``ProviderAuthV4._sign_request`` and
``Bucket.sign_rtmp_url``; checked in the tests). :class:`OssV4Auth` applies the V4 scheme to
outgoing ``httpx`` requests; the resource a request addresses (region, bucket, object) rides
along in the request's extensions because virtual-host requests do not show the bucket in
their path while the canonical URI must.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import httpx

__all__ = [
    "OSS4_ALGORITHM",
    "UNSIGNED_PAYLOAD",
    "OssResource",
    "OssV4Auth",
    "mask_signed_url",
    "oss4_authorization",
    "oss4_canonical_request",
    "oss4_signing_key",
    "oss4_string_to_sign",
    "rtmp_signature",
    "sign_rtmp_url",
    "v4_uri_encode",
]

OSS4_ALGORITHM = "OSS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_PRODUCT = "oss"
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
#: Besides every ``x-oss-*`` header, V4 always signs these when present.
_DEFAULT_SIGNED = frozenset({"content-type", "content-md5"})
#: Query parameters of a signed RTMP URL that are credentials or make up the signature.
_RTMP_SIGNING_PARAMS = ("OSSAccessKeyId", "Signature", "Expires")
_EXTENSION = "relaywarden.oss_resource"

QueryItems = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class OssResource:
    """What an OSS request addresses: the bucket's ``region``, the ``bucket`` and ``key``."""

    region: str
    bucket: str
    key: str = ""

    def attach(self, request: httpx.Request) -> httpx.Request:
        """Record this resource on ``request`` for :class:`OssV4Auth`; returns the request."""
        request.extensions[_EXTENSION] = self
        return request


def v4_uri_encode(text: str, *, keep_slash: bool) -> str:
    """UTF-8 percent-encoding with upper-case hex; ``A-Z a-z 0-9 - _ . ~`` (and ``/`` when
    ``keep_slash``) stay as they are."""
    return quote(text, safe="-_.~/" if keep_slash else "-_.~", encoding="utf-8")


def _items(query: QueryItems) -> list[tuple[str, str]]:
    return list(query.items()) if isinstance(query, Mapping) else list(query)


def _canonical_query(query: QueryItems) -> str:
    encoded = sorted(
        (v4_uri_encode(k, keep_slash=False), v4_uri_encode(v, keep_slash=False))
        for k, v in _items(query)
    )
    # A sub-resource without value (``live``) is the bare key, not ``live=``.
    return "&".join(f"{k}={v}" if v else k for k, v in encoded)


def oss4_canonical_request(
    *,
    method: str,
    bucket: str,
    key: str,
    query: QueryItems,
    headers: Mapping[str, str],
    payload_hash: str = UNSIGNED_PAYLOAD,
) -> str:
    """The V4 canonical request; ``headers`` are filtered to the signed ones here."""
    uri = v4_uri_encode(f"/{bucket}/{key}" if bucket else "/", keep_slash=True)
    signed = sorted(
        (name.lower(), value)
        for name, value in headers.items()
        if name.lower().startswith("x-oss-") or name.lower() in _DEFAULT_SIGNED
    )
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in signed)
    # The empty line stands for the (unused) additional signed headers.
    return "\n".join(
        [method.upper(), uri, _canonical_query(query), canonical_headers, "", payload_hash]
    )


def _scope(date: str, region: str) -> str:
    return f"{date}/{region}/{_PRODUCT}/aliyun_v4_request"


def oss4_string_to_sign(canonical_request: str, when: str, region: str) -> str:
    """``OSS4-HMAC-SHA256\\n<yyyymmddThhmmssZ>\\n<scope>\\n<hex sha256(canonical)>``."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{OSS4_ALGORITHM}\n{when}\n{_scope(when[:8], region)}\n{digest}"


def oss4_signing_key(secret: str, date: str, region: str) -> bytes:
    """HMAC-SHA256 chain ``"aliyun_v4"+secret`` → date → region → ``oss`` → request."""
    key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (date, region, _PRODUCT, "aliyun_v4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def oss4_authorization(
    access_key_id: str,
    secret: str,
    *,
    when: datetime,
    method: str,
    resource: OssResource,
    query: QueryItems,
    headers: Mapping[str, str],
) -> str:
    """The ``Authorization`` header value; ``headers`` must hold the ``x-oss-date`` sent."""
    stamp = when.astimezone(UTC).strftime(_DATE_FORMAT)
    canonical = oss4_canonical_request(
        method=method,
        bucket=resource.bucket,
        key=resource.key,
        query=query,
        headers=headers,
        payload_hash=headers.get("x-oss-content-sha256", UNSIGNED_PAYLOAD),
    )
    string_to_sign = oss4_string_to_sign(canonical, stamp, resource.region)
    signing_key = oss4_signing_key(secret, stamp[:8], resource.region)
    signature = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    credential = f"{access_key_id}/{_scope(stamp[:8], resource.region)}"
    return f"{OSS4_ALGORITHM} Credential={credential}, Signature={signature}"


class OssV4Auth(httpx.Auth):
    """Sign each outgoing request with ``OSS4-HMAC-SHA256`` (payload unsigned).

    The request must carry its :class:`OssResource` (:meth:`OssResource.attach`). Each
    attempt gets a fresh ``x-oss-date``; the query string is sent exactly as signed.
    """

    def __init__(
        self, access_key_id: str, access_key_secret: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._access_key_id = access_key_id
        self._access_key_secret = access_key_secret
        self._clock = clock

    def __repr__(self) -> str:
        return f"OssV4Auth(access_key_id={self._access_key_id!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` in place and send it once."""
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Add ``x-oss-date``, ``x-oss-content-sha256`` and ``Authorization`` to ``request``."""
        resource = request.extensions.get(_EXTENSION)
        if not isinstance(resource, OssResource):
            raise ValueError("OSS request without its OssResource: use OssResource.attach")
        when = datetime.fromtimestamp(self._clock(), tz=UTC)
        request.headers["x-oss-date"] = when.strftime(_DATE_FORMAT)
        request.headers["x-oss-content-sha256"] = UNSIGNED_PAYLOAD
        query = parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
        request.headers["Authorization"] = oss4_authorization(
            self._access_key_id,
            self._access_key_secret,
            when=when,
            method=request.method,
            resource=resource,
            query=query,
            headers=dict(request.headers.items()),
        )


def rtmp_signature(
    secret: str, *, bucket: str, channel: str, expires: int, params: Mapping[str, str]
) -> str:
    """Base64 HMAC-SHA1 of ``Expires\\n`` + sorted ``k:v\\n`` params + ``/bucket/channel``."""
    extra = sorted((k, v) for k, v in params.items() if k not in (*_RTMP_SIGNING_PARAMS,))
    string_to_sign = f"{expires}\n" + "".join(f"{k}:{v}\n" for k, v in extra)
    string_to_sign += f"/{bucket}/{channel}"
    mac = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def sign_rtmp_url(
    publish_url: str,
    *,
    access_key_id: str,
    secret: str,
    bucket: str,
    channel: str,
    expires: int,
    playlist_name: str | None = None,
) -> str:
    """The RTMP publish URL of a private bucket's channel, valid until ``expires`` (Unix s).

    Parameters come in the order the official SDK writes them: ``playlistName`` (when
    given), ``OSSAccessKeyId``, ``Expires``, ``Signature``.
    """
    params = {"playlistName": playlist_name} if playlist_name else {}
    signature = rtmp_signature(
        secret, bucket=bucket, channel=channel, expires=expires, params=params
    )
    pairs = [*params.items(), ("OSSAccessKeyId", access_key_id)]
    pairs += [("Expires", str(expires)), ("Signature", signature)]
    base = publish_url.split("?", 1)[0]
    return base + "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def mask_signed_url(url: str) -> str:
    """``url`` fit for logs and API answers: ``Signature``, ``OSSAccessKeyId`` and ``Expires``
    (and the V4 presign parameters) dropped from its query, everything else kept."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in _RTMP_SIGNING_PARAMS and not k.lower().startswith("x-oss-")
    ]
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" if v else k for k, v in kept)
    return urlunsplit(parts._replace(query=query))
