"""Client of the OSS LiveChannel operations (record a relay into a bucket as HLS).

REST style, XML bodies, signed with ``OSS4-HMAC-SHA256`` (:mod:`handlers.oss_signing`).
Addressing follows the official SDK: an endpoint that is an IP address or ``localhost`` (the
loopback test servers) is addressed path-style (``http://127.0.0.1:PORT/<bucket>/<channel>``),
any other endpoint virtual-host style (``https://<bucket>.<endpoint host>/<channel>``); with
no endpoint configured, ``https://<bucket>.oss-<region>.aliyuncs.com``.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from types import NoneType
from typing import TypeVar, Unpack
from urllib.parse import quote, urlsplit

import httpx

from handlers.oss_livechannel import (
    BUCKET_NAME,
    LiveChannelStat,
    LiveChannelTarget,
    LiveChannelUrls,
    XmlError,
    parse_create_result,
    parse_error,
    parse_stat,
    validate_channel_name,
)
from handlers.oss_signing import OssResource, OssV4Auth, sign_rtmp_url
from handlers.outcome import Outcome, ProviderError, sanitize
from handlers.provider_http import HttpOptions, ProviderHttpClient

__all__ = ["OSS_RESIGN_CODES", "OssClient", "classify_oss"]

T = TypeVar("T")
#: How each answer type is read from a success body (the others have no body to read).
_READERS: dict[type, Callable[[bytes], object]] = {
    LiveChannelUrls: parse_create_result,
    LiveChannelStat: parse_stat,
}

#: OSS refuses a request whose ``x-oss-date`` is more than 15 minutes off: sign anew once.
OSS_RESIGN_CODES = frozenset({"RequestTimeTooSkewed"})
_THROTTLED = frozenset(
    {
        "QpsLimitExceeded",
        "MetaOperationQpsLimitExceeded",
        "TotalQpsLimitExceeded",
        "ActiveRequestLimitExceeded",
        "DownloadTrafficRateLimitExceeded",
        "UploadTrafficRateLimitExceeded",
    }
)
_RETRYABLE = frozenset({"InternalError", "ServiceUnavailable", "RequestTimeout"})
_REJECTED = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidArgument",
        "MalformedXML",
        "InvalidBucketName",
        "InvalidObjectName",
        "NoSuchBucket",
        "NoSuchLiveChannel",
        "TooManyLiveChannel",
        "LiveChannelDisabled",
    }
)
_MISSING_CREDENTIALS = (
    "Alibaba Cloud credentials are not configured: set RELAYWARDEN_ALIYUN_ACCESS_KEY_ID "
    "and RELAYWARDEN_ALIYUN_ACCESS_KEY_SECRET"
)


def classify_oss(status: int, code: str | None) -> Outcome:
    """Classify an OSS error answer by its ``<Code>``, then by its HTTP status.

    QPS and traffic limits are THROTTLED; ``InternalError``, ``ServiceUnavailable``,
    ``RequestTimeout`` and ``RequestTimeTooSkewed`` (sign anew) are RETRYABLE; the
    documented client errors are REJECTED. An unknown code is judged by the status: 429
    THROTTLED, 5xx RETRYABLE, anything else REJECTED.
    """
    if code in _THROTTLED:
        return Outcome.THROTTLED
    if code in _RETRYABLE or code in OSS_RESIGN_CODES:
        return Outcome.RETRYABLE
    if code in _REJECTED:
        return Outcome.REJECTED
    if status == 429:
        return Outcome.THROTTLED
    return Outcome.RETRYABLE if status >= 500 else Outcome.REJECTED


def _is_ip_or_localhost(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _check_bucket(bucket: str) -> str:
    if not BUCKET_NAME.fullmatch(bucket):
        raise ValueError(f"invalid OSS bucket name {bucket!r}")
    return bucket


class OssClient(ProviderHttpClient):
    """LiveChannel operations of one account, rate limited (``qps`` calls in any second).

    ``region`` is the default bucket region (the V4 scope needs it; each call may name
    another). Every method raises :class:`ProviderError` unless OSS answered success;
    bad bucket or channel names raise ValueError before any request.
    """

    provider = "oss"
    resign_codes = OSS_RESIGN_CODES
    missing_credentials = _MISSING_CREDENTIALS

    def __init__(
        self,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        *,
        region: str = "cn-shanghai",
        endpoint: str | None = None,
        qps: int = 10,
        clock: Callable[[], float] = time.time,
        **options: Unpack[HttpOptions],
    ) -> None:
        auth = None
        if access_key_id and access_key_secret:
            auth = OssV4Auth(access_key_id, access_key_secret, clock=clock)
        endpoint = endpoint or f"https://oss-{region}.aliyuncs.com"
        super().__init__(endpoint, auth, qps=qps, secrets=(access_key_secret,), **options)
        self.region = region
        self._configured = endpoint is not None
        self._access_key_id = access_key_id
        self._access_key_secret = access_key_secret

    def bucket_url(self, bucket: str, region: str | None = None) -> str:
        """The base URL of ``bucket`` (path-style for IP/localhost endpoints)."""
        _check_bucket(bucket)
        if not self._configured:
            return f"https://{bucket}.oss-{region or self.region}.aliyuncs.com"
        parts = urlsplit(self.endpoint)
        if _is_ip_or_localhost(parts.hostname or ""):
            return f"{self.endpoint}/{bucket}"
        return f"{parts.scheme}://{bucket}.{parts.netloc}"

    async def _call(
        self,
        api: str,
        method: str,
        bucket: str,
        channel: str,
        query: str,
        *,
        region: str | None = None,
        content: bytes | None = None,
        answer: type[T],
    ) -> T:
        validate_channel_name(channel)
        url = f"{self.bucket_url(bucket, region)}/{quote(channel, safe='')}"
        resource = OssResource(region or self.region, bucket, channel)
        headers = {"Content-Type": "application/xml"} if content is not None else {}

        def build() -> httpx.Request:
            request = self._http.build_request(
                method, url, headers=headers, content=content, timeout=self._timeout
            )
            request.url = request.url.copy_with(query=query.encode("ascii"))
            return resource.attach(request)

        return await self._send(api, build, answer)

    async def put_live_channel(
        self, bucket: str, channel: str, target: LiveChannelTarget, *, region: str | None = None
    ) -> LiveChannelUrls:
        """PutLiveChannel: create (or overwrite) the channel; returns its unsigned URLs."""
        return await self._call(
            "PutLiveChannel",
            "PUT",
            bucket,
            channel,
            "live",
            region=region,
            content=target.to_xml(),
            answer=LiveChannelUrls,
        )

    async def put_live_channel_status(
        self, bucket: str, channel: str, *, enabled: bool, region: str | None = None
    ) -> None:
        """PutLiveChannelStatus: ``enabled`` or ``disabled`` (disabling ends a live push)."""
        status = "enabled" if enabled else "disabled"
        query = f"live&status={status}"
        api = "PutLiveChannelStatus"
        await self._call(api, "PUT", bucket, channel, query, region=region, answer=NoneType)

    async def get_live_channel_stat(
        self, bucket: str, channel: str, *, region: str | None = None
    ) -> LiveChannelStat:
        """GetLiveChannelStat: Idle, Live (with stream details) or Disabled."""
        return await self._call(
            "GetLiveChannelStat",
            "GET",
            bucket,
            channel,
            "comp=stat&live",
            region=region,
            answer=LiveChannelStat,
        )

    async def delete_live_channel(
        self, bucket: str, channel: str, *, region: str | None = None
    ) -> None:
        """DeleteLiveChannel (the recorded segments stay in the bucket)."""
        api = "DeleteLiveChannel"
        await self._call(api, "DELETE", bucket, channel, "live", region=region, answer=NoneType)

    def sign_publish_url(
        self,
        publish_url: str,
        *,
        bucket: str,
        channel: str,
        expires_at: int,
        playlist_name: str | None = None,
    ) -> str:
        """``publish_url`` signed for pushing until ``expires_at`` (Unix seconds).

        The result is a secret: log it only through :func:`~handlers.oss_signing.mask_signed_url`.
        """
        if not self._access_key_id or not self._access_key_secret:
            raise ProviderError(
                self.provider,
                "SignRtmpUrl",
                Outcome.REJECTED,
                "MissingCredentials",
                _MISSING_CREDENTIALS,
            )
        return sign_rtmp_url(
            publish_url,
            access_key_id=self._access_key_id,
            secret=self._access_key_secret,
            bucket=_check_bucket(bucket),
            channel=validate_channel_name(channel),
            expires=expires_at,
            playlist_name=playlist_name,
        )

    def _interpret(
        self, api: str, response: httpx.Response, secrets: tuple[str, ...], answer: type[T]
    ) -> T:
        status = response.status_code
        request_id = response.headers.get("x-oss-request-id")
        if 200 <= status < 300:
            reader = _READERS.get(answer)
            try:
                result = reader(response.content) if reader is not None else None
            except XmlError as exc:
                raise self._error(
                    api,
                    Outcome.REJECTED,
                    "InvalidResponse",
                    str(exc),
                    request_id=request_id,
                    http_status=status,
                ) from None
            if not isinstance(result, answer):
                raise TypeError(f"{api} has no reader for {answer.__name__}")
            return result
        try:
            error = parse_error(response.content)
        except XmlError:
            raise self._error(
                api,
                classify_oss(status, None),
                f"HTTP{status}",
                f"HTTP {status} answer is not an OSS <Error> document",
                request_id=request_id,
                http_status=status,
            ) from None
        message = sanitize(error.message, secrets)
        if error.ec:
            message = f"{message} (EC {error.ec})"
        raise self._error(
            api,
            classify_oss(status, error.code or None),
            error.code or f"HTTP{status}",
            message,
            request_id=error.request_id or request_id,
            http_status=status,
        )
