"""A fake OSS: the LiveChannel subset (Put, PutStatus, GetStat, Delete), path-style.

It checks ``OSS4-HMAC-SHA256`` signatures with the official ``oss2`` SDK's own V4 signer
(``oss2.ProviderAuthV4``, driven at the request's ``x-oss-date``), the date's freshness (15
minutes), enforces a per-account QPS for LiveChannel operations (the documented
``MetaOperationQpsLimitExceeded``), answers errors as OSS ``<Error>`` XML documents with the
documented codes and keeps the channels' state (Idle / Live / Disabled).

Usage::

    fake = FakeOss()
    with fake.serve() as url:
        client = OssClient(fake.access_key_id, fake.access_key_secret, endpoint=url)
        fake.start_push("bucket", "channel")  # an encoder connected: Live
"""

from __future__ import annotations

import hmac
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import oss2
import oss2.auth
import oss2.http
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tests.fakes.common import CallRecord, ErrorFault, FakeProvider, Fault

__all__ = ["LIVE_CHANNEL_ACTIONS", "FakeOss", "LiveChannel", "OssError", "oss2_v4_authorization"]

LIVE_CHANNEL_ACTIONS = frozenset(
    {"PutLiveChannel", "PutLiveChannelStatus", "GetLiveChannelStat", "DeleteLiveChannel"}
)
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_MAX_SKEW = 15 * 60
_CREDENTIAL = re.compile(
    r"OSS4-HMAC-SHA256 Credential=(?P<ak>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/oss"
    r"/aliyun_v4_request, Signature=(?P<signature>[0-9a-f]{64})"
)
_THROTTLED = (503, "MetaOperationQpsLimitExceeded", "Qps limit for the meta operation is exceeded")
_INTERNAL = (500, "InternalError", "We encountered an internal error. Please try again.")
_ORACLE_LOCK = threading.Lock()


def oss2_v4_authorization(
    access_key_id: str,
    access_key_secret: str,
    *,
    method: str,
    region: str,
    bucket: str,
    key: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    when: datetime,
) -> str:
    """The ``Authorization`` the official ``oss2`` V4 signer computes for this request.

    oss2 takes the time from ``datetime.utcnow()``; it is pinned to ``when`` for the call.
    """

    class _Pinned(datetime):
        @classmethod
        def utcnow(cls) -> datetime:  # type: ignore[override]
            return when.astimezone(UTC).replace(tzinfo=None)

    request = oss2.http.Request(
        method,
        "http://oracle.invalid/",
        params=dict(params),
        headers=dict(headers),
        region=region,
        product="oss",
    )
    signer = oss2.ProviderAuthV4(
        oss2.credentials.StaticCredentialsProvider(access_key_id, access_key_secret)
    )
    with _ORACLE_LOCK:
        saved = oss2.auth.datetime
        oss2.auth.datetime = _Pinned
        try:
            signer._sign_request(request, bucket, key)
        finally:
            oss2.auth.datetime = saved
    return str(request.headers["authorization"])


class OssError(Exception):
    """An OSS error answer: HTTP status, ``Code`` and ``Message``."""

    def __init__(self, status: int, code: str, message: str, ec: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.ec = status, code, message, ec


@dataclass
class LiveChannel:
    """One channel as OSS keeps it."""

    bucket: str
    name: str
    config: dict[str, str]  # Description, Status, FragDuration, FragCount, PlaylistName
    pushing: bool = False
    deleted: bool = False

    @property
    def status(self) -> str:
        """What GetLiveChannelStat says."""
        if self.config["Status"] == "disabled":
            return "Disabled"
        return "Live" if self.pushing else "Idle"


def _action(method: str, params: Mapping[str, str]) -> str:
    if "live" not in params:
        return "Unsupported"
    if method == "PUT":
        return "PutLiveChannelStatus" if "status" in params else "PutLiveChannel"
    if method == "GET" and params.get("comp") == "stat":
        return "GetLiveChannelStat"
    return "DeleteLiveChannel" if method == "DELETE" else "Unsupported"


def _int_within(root: ET.Element, path: str, low: int, high: int) -> str | None:
    text = root.findtext(path)
    if text is None:
        return None
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise OssError(400, "InvalidArgument", f"{path} must be within {low}-{high}.")
    return text.strip()


class FakeOss(FakeProvider):
    """OSS LiveChannel operations for every bucket of one account (path-style addressing).

    ``buckets`` exist (others answer ``NoSuchBucket``); ``qps`` limits LiveChannel calls in
    any 1-s window (None: no limit); ``wall_clock`` is OSS's clock.
    """

    def __init__(
        self,
        access_key_id: str = "fake-oss-key-id",
        access_key_secret: str = "fake-oss-secret/+=",
        *,
        buckets: frozenset[str] = frozenset({"relay-records", "other-bucket"}),
        region: str = "cn-shanghai",
        qps: int | None = 10,
        hang_seconds: float = 30.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(qps=qps, hang_seconds=hang_seconds)
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.buckets = buckets
        self.region = region
        self.wall_clock = wall_clock
        self._channels: dict[tuple[str, str], LiveChannel] = {}
        self.app = Starlette(
            routes=[Route("/{bucket}/{channel}", self._handle, methods=["GET", "PUT", "DELETE"])]
        )

    def _reset_state(self) -> None:
        self._channels.clear()

    def channel(self, bucket: str, name: str) -> LiveChannel:
        """One existing channel (KeyError when unknown or deleted)."""
        with self._lock:
            found = self._channels[(bucket, name)]
            if found.deleted:
                raise KeyError((bucket, name))
            return found

    def start_push(self, bucket: str, name: str) -> None:
        """An encoder connected to the channel (refused by OSS when it is disabled)."""
        with self._lock:
            found = self.channel(bucket, name)
            if found.config["Status"] == "disabled":
                raise RuntimeError("OSS refuses pushes to a disabled LiveChannel")
            found.pushing = True

    def publish_url(self, bucket: str, name: str) -> str:
        """The unsigned RTMP URL OSS hands out for a channel."""
        return f"rtmp://{bucket}.oss-{self.region}.aliyuncs.com/live/{name}"

    # ---------------------------------------------------------------- HTTP

    async def _handle(self, request: Request) -> Response:
        arrival = time.monotonic()
        body = await request.body()
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        bucket, name = request.path_params["bucket"], request.path_params["channel"]
        action = _action(request.method, params)
        record = self._record(
            request, action, {**params, "bucket": bucket, "channel": name}, arrival
        )
        try:
            self._authenticate(request, params, bucket, name)
            if action not in LIVE_CHANNEL_ACTIONS:
                raise OssError(400, "InvalidArgument", "Unsupported operation.")
            if not self._window.admit("live-channel", arrival):
                raise OssError(*_THROTTLED)
            fault = self._faults.pop(action)
            if fault is not None:
                return await self._apply_fault(request, record, fault, body)
            status, answer = self._perform(record, bucket, name, params, body)
        except OssError as exc:
            return self._error(record, exc)
        record.outcome, record.status = "ok", status
        return self._answer(status, answer)

    def _answer(self, status: int, document: ET.Element | None) -> Response:
        headers = {"x-oss-request-id": uuid.uuid4().hex.upper()[:24]}
        if document is None:
            return Response(status_code=status, headers=headers)
        content = ET.tostring(document, encoding="utf-8", xml_declaration=True)
        return Response(content, status, headers=headers, media_type="application/xml")

    async def _apply_fault(
        self, request: Request, record: CallRecord, fault: Fault, body: bytes
    ) -> Response:
        record.fault = fault if isinstance(fault, str) else f"error:{fault.code}"
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        bucket, name = request.path_params["bucket"], request.path_params["channel"]
        if isinstance(fault, ErrorFault):
            if fault.acted:
                self._perform(record, bucket, name, params, body)
            raise OssError(fault.status, fault.code, fault.message)
        if fault == "throttle":
            raise OssError(*_THROTTLED)
        if fault == "5xx":
            raise OssError(*_INTERNAL)
        if fault == "bad_gateway":
            record.outcome, record.status = "BadGateway", 502
            return HTMLResponse("<html><body>502 Bad Gateway</body></html>", 502)
        if fault in ("acted_but_lost", "acted_but_timeout"):
            self._perform(record, bucket, name, params, body)
            if fault == "acted_but_lost":
                raise OssError(*_INTERNAL)
        await self._hang(request)
        record.outcome = "timeout"
        return Response(status_code=504)

    def _error(self, record: CallRecord, exc: OssError) -> Response:
        record.outcome, record.status = exc.code, exc.status
        root = ET.Element("Error")
        request_id = uuid.uuid4().hex.upper()[:24]
        for tag, text in (
            ("Code", exc.code),
            ("Message", exc.message),
            ("RequestId", request_id),
            ("HostId", "oss-fake.aliyuncs.com"),
            ("EC", exc.ec or "0000-00000000"),
        ):
            ET.SubElement(root, tag).text = text
        content = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return Response(content, exc.status, media_type="application/xml")

    def _authenticate(
        self, request: Request, params: dict[str, str], bucket: str, name: str
    ) -> None:
        given = request.headers.get("authorization", "")
        match = _CREDENTIAL.fullmatch(given.strip())
        if match is None:
            raise OssError(403, "AccessDenied", "Authorization header is invalid.")
        if match["ak"] != self.access_key_id:
            raise OssError(403, "InvalidAccessKeyId", "The OSS Access Key Id does not exist.")
        try:
            when = datetime.strptime(request.headers.get("x-oss-date", ""), _DATE_FORMAT)
        except ValueError:
            raise OssError(403, "AccessDenied", "x-oss-date is missing or malformed.") from None
        when = when.replace(tzinfo=UTC)
        if abs(self.wall_clock() - when.timestamp()) > _MAX_SKEW:
            raise OssError(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        if match["date"] != when.strftime("%Y%m%d") or match["region"] != self.region:
            raise OssError(403, "SignatureDoesNotMatch", "The credential scope is invalid.")
        signed = {
            k: v
            for k, v in request.headers.items()
            if k.startswith("x-oss-") or k in ("content-type", "content-md5")
        }
        expected = oss2_v4_authorization(
            self.access_key_id,
            self.access_key_secret,
            method=request.method,
            region=self.region,
            bucket=bucket,
            key=name,
            params=params,
            headers=signed,
            when=when,
        )
        if not hmac.compare_digest(expected, given.strip()):
            raise OssError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )

    # ---------------------------------------------------------------- operations

    def _perform(
        self, record: CallRecord, bucket: str, name: str, params: dict[str, str], body: bytes
    ) -> tuple[int, ET.Element | None]:
        with self._lock:
            if bucket not in self.buckets:
                raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.")
            if record.action == "PutLiveChannel":
                self._channels[(bucket, name)] = LiveChannel(bucket, name, _config(body))
                record.acted = True
                return 200, self._create_result(bucket, name)
            found = self._channels.get((bucket, name))
            if found is None or found.deleted:
                raise OssError(
                    404,
                    "NoSuchLiveChannel",
                    "The specified live channel does not exist.",
                    "0026-00000021",
                )
            if record.action == "GetLiveChannelStat":
                return 200, _stat(found)
            record.acted = True
            if record.action == "DeleteLiveChannel":
                found.deleted = True
                return 204, None
            status = params.get("status", "")
            if status not in ("enabled", "disabled"):
                raise OssError(400, "InvalidArgument", "status must be enabled or disabled.")
            found.config["Status"] = status
            found.pushing = found.pushing and status == "enabled"
            return 200, None

    def _create_result(self, bucket: str, name: str) -> ET.Element:
        root = ET.Element("CreateLiveChannelResult")
        ET.SubElement(ET.SubElement(root, "PublishUrls"), "Url").text = self.publish_url(
            bucket, name
        )
        playlist = self._channels[(bucket, name)].config["PlaylistName"]
        play = f"http://{bucket}.oss-{self.region}.aliyuncs.com/{name}/{playlist}"
        ET.SubElement(ET.SubElement(root, "PlayUrls"), "Url").text = play
        return root


def _config(body: bytes) -> dict[str, str]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise OssError(400, "MalformedXML", "The XML you provided was not well-formed.") from None
    if root.tag != "LiveChannelConfiguration" or root.findtext("Target/Type") != "HLS":
        raise OssError(400, "InvalidArgument", "Target Type must be HLS.")
    status = root.findtext("Status") or "enabled"
    if status not in ("enabled", "disabled"):
        raise OssError(
            400, "InvalidArgument", "Status must be enabled or disabled.", "0044-00000002"
        )
    duration = _int_within(root, "Target/FragDuration", 1, 100)
    count = _int_within(root, "Target/FragCount", 1, 100)
    if (duration is None) != (count is None):
        raise OssError(400, "InvalidArgument", "FragDuration and FragCount go together.")
    playlist = root.findtext("Target/PlaylistName") or "playlist.m3u8"
    if not playlist.endswith(".m3u8") or not 6 <= len(playlist.encode()) <= 128:
        raise OssError(400, "InvalidArgument", "PlaylistName must be 6-128 bytes ending .m3u8.")
    return {
        "Description": root.findtext("Description") or "",
        "Status": status,
        "FragDuration": duration or "5",
        "FragCount": count or "3",
        "PlaylistName": playlist,
    }


def _stat(channel: LiveChannel) -> ET.Element:
    root = ET.Element("LiveChannelStat")
    ET.SubElement(root, "Status").text = channel.status
    if channel.status == "Live":
        ET.SubElement(root, "ConnectedTime").text = "2026-01-01T00:00:00.000Z"
        ET.SubElement(root, "RemoteAddr").text = "127.0.0.1:50000"
        video = ET.SubElement(root, "Video")
        for tag, text in (
            ("Width", "1280"),
            ("Height", "720"),
            ("FrameRate", "30"),
            ("Bandwidth", "2000000"),
            ("Codec", "H264"),
        ):
            ET.SubElement(video, tag).text = text
        audio = ET.SubElement(root, "Audio")
        for tag, text in (("Bandwidth", "128000"), ("SampleRate", "44100"), ("Codec", "AAC")):
            ET.SubElement(audio, tag).text = text
    return root
