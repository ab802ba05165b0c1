"""A fake Alibaba Cloud Live OpenAPI: the pull-to-push operations of Version 2016-11-01.

It checks ``ACS3-HMAC-SHA256`` signatures with the official SDK's own function
(``alibabacloud_openapi_util.client.Client.get_authorization``), the date's freshness (15
minutes) and nonce reuse, enforces the per-account QPS across the pull-to-push operations,
answers in Alibaba's formats (errors as ``{"RequestId","HostId","Code","Message",
"Recommend"}`` with 4xx/5xx) and keeps the tasks' state.

Usage::

    fake = FakeAliyunLive()
    with fake.serve() as url:
        client = AliyunLiveClient(url, fake.access_key_id, fake.access_key_secret)
        fake.inject("CreateLivePullToPush", "acted_but_lost")
        ...
        body = fake.set_task_status(task_id, 3, "PullStreamFailed")  # no callback sent
        fake.post_callback(task_id, body)  # deliver it to the task's CallbackURL
        fake.set_task_status(task_id, 1, notify=True)  # change and notify (may be lost)
        fake.callbacks.lose_next()  # the next notification never arrives

With ``auto_callbacks`` the API's own changes notify too, as the provider does: Create
(Running once started), Stop (Offline, ``TriggerByUser``), Restart (Running) and Delete
(Exit, ``TriggerByUser``); never for Idle.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import httpx
from alibabacloud_openapi_util.client import Client as AcsOracle
from alibabacloud_openapi_util.client import get_canonical_query_string, get_canonicalized_headers
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.fakes.common import CallRecord, ErrorFault, FakeProvider, Fault

__all__ = [
    "DST_URL_CONFLICT_CODE",
    "DST_URL_CONFLICT_MESSAGE",
    "PULL_TO_PUSH_ACTIONS",
    "ApiError",
    "FakeAliyunLive",
    "PullToPushTask",
]

VERSION = "2016-11-01"
PULL_TO_PUSH_ACTIONS = frozenset(
    {
        "CreateLivePullToPush",
        "DeleteLivePullToPush",
        "StopLivePullToPush",
        "RestartLivePullToPush",
        "DescribeLivePullToPush",
        "DescribeLivePullToPushList",
        "UpdateLivePullToPush",
    }
)
REGIONS = frozenset(
    {"cn-beijing", "cn-shanghai", "cn-shenzhen", "ap-southeast-1", "ap-southeast-5"}
)
#: CreateLivePullToPush's error table lists this code; that it is what a DstUrl used by a
#: live task gets is inferred (the table gives no cause).
DST_URL_CONFLICT_CODE = "CodeConfigAlreadyExists"
#: The documented message, with the cause added so that a reader of the fake's answers (and
#: a tolerant client that looks for "DstUrl" in the message) can tell why.
DST_URL_CONFLICT_MESSAGE = "Code Config Already Exists (the DstUrl is used by another task)"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_MAX_SKEW = 15 * 60
_REQUIRED_SIGNED = frozenset(
    {
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    }
)
_AUTHORIZATION = re.compile(
    r"ACS3-HMAC-SHA256\s+Credential=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<names>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]+)"
)
_THROTTLED = (400, "Throttling.User", "Request was denied due to user flow control.")
_INTERNAL = (
    500,
    "InternalError",
    "The request processing has failed due to some unknown error, exception or failure.",
)


class ApiError(Exception):
    """An error answer: HTTP status, Alibaba ``Code`` and ``Message``."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class PullToPushTask:
    """One pull-to-push task as the provider keeps it."""

    task_id: str
    region: str
    info: dict[str, Any]  # TaskInfo, with the keys Describe uses (note ``CallbackURL``)
    status: int = 0  # 0 Idle, 1 Running, 2 Recovering, 3 Offline, -1 Exit
    invalid_reason: str | None = None
    exit_reason: str | None = None
    exit_time: int | None = None
    deleted: bool = False
    deleted_at: float | None = None  # wall-clock time of DeleteLivePullToPush
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dst_url(self) -> str:
        return str(self.info["DstUrl"])

    @property
    def callback_url(self) -> str:
        return str(self.info.get("CallbackURL") or "")

    def describe(self) -> dict[str, Any]:
        """The task as DescribeLivePullToPush (and each TaskList item) shows it."""
        out: dict[str, Any] = {
            "TaskId": self.task_id,
            "TaskStatus": self.status,
            "CurrentFileIndex": 0,
            "CurrentOffset": 0,
            "TaskInfo": dict(self.info),
        }
        if self.invalid_reason:
            out["TaskInvalidReason"] = self.invalid_reason
        if self.exit_reason:
            out["TaskExitReason"] = self.exit_reason
            out["TaskExitTime"] = self.exit_time
        return out


def _require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(400, f"Missing{name}", f"{name} is mandatory for this action.")
    return value


def _invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def _parse_time(params: Mapping[str, str], name: str) -> int:
    value = _require(params, name)
    try:
        parsed = datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _invalid(f"{name} must be yyyy-MM-ddTHH:mm:ssZ.") from None
    return int(parsed.timestamp())


def _int(params: Mapping[str, str], name: str, default: int | None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise _invalid(f"{name} must be an integer.") from None


def _source_urls(value: str, source_type: str) -> list[str]:
    try:
        urls = json.loads(value)
    except ValueError:
        raise _invalid("SourceUrls must be a JSON array of URLs.") from None
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        raise _invalid("SourceUrls must be a JSON array of URLs.")
    if source_type == "live" and len(urls) != 1:
        raise _invalid("SourceUrls of a live task holds exactly one URL.")
    if len(urls) > 30:
        raise _invalid("SourceUrls holds at most 30 URLs.")
    return urls


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class FakeAliyunLive(FakeProvider):
    """The Live OpenAPI pull-to-push operations on one account.

    ``qps`` limits calls across all pull-to-push operations in any 1-s window (None: no
    limit); ``wall_clock`` is the provider's clock (date freshness, StartTime/EndTime);
    with ``reject_duplicate_dst_url`` Create refuses a DstUrl used by a task that has not
    exited, answering :data:`DST_URL_CONFLICT_CODE`; a deleted task keeps holding its DstUrl
    for ``delete_propagation_seconds`` (deletion propagates). Tasks live in one region: any
    operation naming another region answers ``CodeTaskNotExist``, and lists are per region.
    ``auto_callbacks`` makes API-driven changes notify the task's CallbackURL.
    """

    def __init__(
        self,
        access_key_id: str = "fake-access-key-id",
        access_key_secret: str = "fake-access-key-secret",
        *,
        qps: int | None = 10,
        hang_seconds: float = 30.0,
        wall_clock: Callable[[], float] = time.time,
        reject_duplicate_dst_url: bool = True,
        delete_propagation_seconds: float = 0.0,
        auto_callbacks: bool = False,
    ) -> None:
        super().__init__(qps=qps, hang_seconds=hang_seconds)
        #: The operations this fake serves (others answer ``InvalidAction.NotFound``).
        self.actions: frozenset[str] = PULL_TO_PUSH_ACTIONS
        self.delete_propagation_seconds = delete_propagation_seconds
        self.auto_callbacks = auto_callbacks
        self._configured = (delete_propagation_seconds, auto_callbacks)
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.wall_clock = wall_clock
        self.reject_duplicate_dst_url = reject_duplicate_dst_url
        self._tasks: dict[str, PullToPushTask] = {}
        self._nonces: set[str] = set()
        self.app = Starlette(routes=[Route("/", self._handle, methods=["GET", "POST"])])

    # ---------------------------------------------------------------- state helpers

    def _reset_state(self) -> None:
        self._tasks.clear()
        self._nonces.clear()
        self.delete_propagation_seconds, self.auto_callbacks = self._configured

    @property
    def tasks(self) -> list[PullToPushTask]:
        """Every task ever created (deleted ones included, flagged), oldest first."""
        with self._lock:
            return list(self._tasks.values())

    def task(self, task_id: str) -> PullToPushTask:
        """One task by id (KeyError when unknown)."""
        with self._lock:
            return self._tasks[task_id]

    def add_task(self, params: Mapping[str, Any]) -> str:
        """Create a task directly (as if by another tool); returns its TaskId."""
        with self._lock:
            return self._create({k: _param_text(v) for k, v in params.items()})

    def set_task_status(
        self, task_id: str, status: int, reason: str | None = None, *, notify: bool = False
    ) -> dict[str, Any]:
        """Move a task to ``status`` (-1 exits it); return the callback body for it.

        ``reason`` is the ``TaskInvalidReason`` for Offline (3) and the ``TaskExitReason``
        for Exit (-1, default ``OverEndTime``). Nothing is sent unless ``notify``: a task
        that goes offline silently is what a reconciler has to find by Describe.
        """
        body = self._set_status(task_id, status, reason)
        if notify:
            self.notify(task_id, body)
        return body

    def notify(self, task_id: str, body: Mapping[str, Any] | None = None) -> httpx.Response | None:
        """Send a callback the way the provider does: through :attr:`callbacks`, so it can be
        lost (then None is returned)."""
        target, payload = self._callback_target(task_id, body, None)
        return self.callbacks.send(target, _json_bytes(payload), _JSON)

    def _set_status(self, task_id: str, status: int, reason: str | None) -> dict[str, Any]:
        with self._lock:
            task = self._tasks[task_id]
            task.status = status
            if status == -1:
                task.exit_reason = reason or "OverEndTime"
                task.exit_time = int(self.wall_clock())
            else:
                task.invalid_reason = reason if status == 3 else None
            return self.callback_body(task_id)

    def remove_task(self, task_id: str) -> None:
        """Make a task vanish without a callback (Describe and Delete: ``CodeTaskNotExist``)."""
        with self._lock:
            self._tasks[task_id].deleted = True

    def callback_body(
        self, task_id: str, *, event_time: int | None = None, event: str | None = None
    ) -> dict[str, Any]:
        """The callback the provider would send for the task's current status."""
        with self._lock:
            task = self._tasks[task_id]
            when = str(event_time if event_time is not None else int(self.wall_clock()))
            body: dict[str, Any] = {"EventTime": when, "TaskId": task_id}
            body["TaskInfo"] = dict(task.info)
            if task.status == -1:
                body["Event"] = event or "LivePullToPushExit"
                body["TaskExitReason"] = task.exit_reason
                body["TaskExitTime"] = task.exit_time
            else:
                body["Event"] = event or "LivePullToPushRunning"
                body["TaskStatus"] = task.status
                if task.status == 3 and task.invalid_reason:
                    body["TaskInvalidReason"] = task.invalid_reason
            return body

    def post_callback(
        self,
        task_id: str,
        body: Mapping[str, Any] | None = None,
        *,
        url: str | None = None,
        timeout: float = 5.0,
    ) -> httpx.Response:
        """POST a callback (default: for the current status) to the task's CallbackURL."""
        target, payload = self._callback_target(task_id, body, url)
        return httpx.post(target, json=payload, timeout=timeout)

    async def apost_callback(
        self,
        task_id: str,
        body: Mapping[str, Any] | None = None,
        *,
        url: str | None = None,
    ) -> httpx.Response:
        """Async :meth:`post_callback`."""
        target, payload = self._callback_target(task_id, body, url)
        async with httpx.AsyncClient(timeout=5.0) as client:
            return await client.post(target, json=payload)

    def _callback_target(
        self, task_id: str, body: Mapping[str, Any] | None, url: str | None
    ) -> tuple[str, dict[str, Any]]:
        target = url or self.task(task_id).callback_url
        if not target:
            raise ValueError(f"task {task_id} has no CallbackURL")
        return target, dict(body) if body is not None else self.callback_body(task_id)

    # ---------------------------------------------------------------- HTTP

    async def _handle(self, request: Request) -> Response:
        arrival = time.monotonic()
        body = await request.body()
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        action = request.headers.get("x-acs-action", "")
        record = self._record(request, action, params, arrival)
        try:
            self._authenticate(request, params, body)
            if action not in self.actions:
                raise ApiError(404, "InvalidAction.NotFound", f"Specified api {action} not found.")
            if request.headers.get("x-acs-version") != VERSION:
                raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
            self._admit(action, arrival)
            fault = self._faults.pop(action)
            if fault is not None:
                return await self._apply_fault(request, record, fault, params)
            if self.answer_delay_seconds:
                await asyncio.sleep(self.answer_delay_seconds)
            before = self._status_of(params.get("TaskId"))
            result = self._perform(record, params)
        except ApiError as exc:
            return self._error(record, exc)
        response = self._ok(record, result)
        task_id = str(result.get("TaskId") or params.get("TaskId") or "")
        if self.auto_callbacks and record.acted and self._status_of(task_id) != before:
            response.background = self._notification(task_id)
        return response

    def _status_of(self, task_id: str | None) -> int | None:
        with self._lock:
            task = self._tasks.get(task_id or "")
            return None if task is None else task.status

    def _notification(self, task_id: str) -> BackgroundTask | None:
        """The callback for a task's new status, sent after the API answer; none for Idle."""
        with self._lock:
            task = self._tasks[task_id]
            if task.status == 0 or not task.callback_url:
                return None
            body = _json_bytes(self.callback_body(task_id))
            return BackgroundTask(self.callbacks.asend, task.callback_url, body, _JSON)

    def _admit(self, action: str, arrival: float) -> None:
        """Raise the throttling error when ``action`` is over its per-account QPS."""
        if not self._window.admit("pull-to-push", arrival):
            raise ApiError(*_THROTTLED)

    async def _apply_fault(
        self, request: Request, record: CallRecord, fault: Fault, params: dict[str, str]
    ) -> Response:
        record.fault = fault if isinstance(fault, str) else f"error:{fault.code}"
        if isinstance(fault, ErrorFault):
            if fault.acted:
                self._perform(record, params)
            raise ApiError(fault.status, fault.code, fault.message, fault.headers)
        transport_answer = self._transport_fault(request, record, fault)
        if transport_answer is not None:
            return transport_answer
        if fault == "throttle":
            raise ApiError(*_THROTTLED)
        if fault == "5xx":
            raise ApiError(*_INTERNAL)
        if fault == "bad_gateway":
            record.outcome, record.status = "BadGateway", 502
            return HTMLResponse("<html><body>502 Bad Gateway</body></html>", 502)
        if fault in ("acted_but_lost", "acted_but_timeout"):
            self._perform(record, params)
            if fault == "acted_but_lost":
                raise ApiError(*_INTERNAL)
        await self._hang(request)
        record.outcome = "timeout"
        return Response(status_code=504)

    def _ok(self, record: CallRecord, result: dict[str, Any]) -> Response:
        record.outcome, record.status = "ok", 200
        return JSONResponse({"RequestId": _request_id(), **result})

    def _error(self, record: CallRecord, exc: ApiError) -> Response:
        record.outcome, record.status = exc.code, exc.status
        request_id = _request_id()
        body = {
            "RequestId": request_id,
            "HostId": "live.aliyuncs.com",
            "Code": exc.code,
            "Message": exc.message,
            "Recommend": (
                f"https://api.aliyun.com/troubleshoot?q={exc.code}&product=live"
                f"&requestId={request_id}"
            ),
        }
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    def _authenticate(self, request: Request, params: dict[str, str], body: bytes) -> None:
        match = _AUTHORIZATION.fullmatch(request.headers.get("authorization", "").strip())
        if match is None:
            raise ApiError(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
            )
        if match["ak"] != self.access_key_id:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        names = match["names"].split(";")
        unsigned = _REQUIRED_SIGNED - set(names)
        absent = [name for name in names if name not in request.headers]
        if unsigned or absent:
            missing = ", ".join(sorted(unsigned | set(absent)))
            raise ApiError(400, "IncompleteSignature", f"Headers not signed or absent: {missing}.")
        body_sha256 = hashlib.sha256(body).hexdigest()
        if request.headers["x-acs-content-sha256"] != body_sha256:
            raise ApiError(400, "SignatureDoesNotMatch", "x-acs-content-sha256 is not the body's.")
        self._check_date(request.headers["x-acs-date"])
        signed = {name: request.headers[name] for name in names}
        oracle_request = SimpleNamespace(
            method=request.method, pathname=request.url.path, query=params, headers=signed
        )
        expected = AcsOracle.get_authorization(
            oracle_request,
            "ACS3-HMAC-SHA256",
            body_sha256,
            self.access_key_id,
            self.access_key_secret,
        )
        expected_signature = expected.rsplit("Signature=", 1)[1]
        if not hmac.compare_digest(expected_signature, match["signature"]):
            raise ApiError(
                400,
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation. server string to sign is:"
                + _string_to_sign(request.method, request.url.path, params, signed, body_sha256),
            )
        nonce = request.headers["x-acs-signature-nonce"]
        with self._lock:
            if nonce in self._nonces:
                raise ApiError(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                )
            self._nonces.add(nonce)

    def _check_date(self, value: str) -> None:
        try:
            when = datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise ApiError(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            ) from None
        if abs(self.wall_clock() - when) > _MAX_SKEW:
            raise ApiError(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )

    # ---------------------------------------------------------------- operations

    def _perform(self, record: CallRecord, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            action = record.action
            if action == "CreateLivePullToPush":
                task_id = self._create(params)
                record.acted = True
                return {"RetCode": 0, "Description": "OK", "TaskId": task_id}
            if action == "DescribeLivePullToPushList":
                return self._list(params)
            task = self._find(params)
            if action == "DescribeLivePullToPush":
                return {"RetCode": 0, "Description": "OK", **task.describe()}
            record.acted = True
            if action == "DeleteLivePullToPush":
                task.deleted, task.deleted_at = True, self.wall_clock()
                task.status, task.exit_reason = -1, "TriggerByUser"
                task.exit_time = int(self.wall_clock())
                return {"RetCode": 0, "Description": "OK"}
            if action == "StopLivePullToPush":
                if task.status == 3:
                    record.acted = False
                    raise ApiError(400, "CodeTaskHasStopped", "The task has been stopped.")
                task.status, task.invalid_reason = 3, "TriggerByUser"
                return {"TaskId": task.task_id}
            if action == "RestartLivePullToPush":
                if task.extra["start"] <= self.wall_clock():
                    task.status, task.invalid_reason = 1, None
                return {"TaskId": task.task_id}
            self._update(task, params)
            return {"RetCode": 0, "Description": "OK"}

    def _find(self, params: Mapping[str, str]) -> PullToPushTask:
        region = _require(params, "Region")
        task_id = _require(params, "TaskId")
        task = self._tasks.get(task_id)
        if task is None or task.deleted or task.region != region:
            raise ApiError(400, "CodeTaskNotExist", "Task does not exist.")
        return task

    def _create(self, params: Mapping[str, str]) -> str:
        region = _require(params, "Region")
        if region not in REGIONS:
            raise _invalid(f"Region {region} is not supported.")
        source_type = _require(params, "SourceType")
        if source_type not in ("live", "vod", "url"):
            raise _invalid("SourceType must be live, vod or url.")
        urls = _source_urls(_require(params, "SourceUrls"), source_type)
        protocol = params.get("SourceProtocol") or None
        if source_type == "live" and protocol not in ("rtmp", "srt", "http-flv", "hls"):
            raise _invalid("SourceProtocol must be rtmp, srt, http-flv or hls for live.")
        dst_url = _require(params, "DstUrl")
        if not dst_url.startswith("rtmp://") or len(dst_url) > 2000:
            raise _invalid("DstUrl must be an RTMP URL of at most 2000 characters.")
        start, end = _parse_time(params, "StartTime"), _parse_time(params, "EndTime")
        now = self.wall_clock()
        if end <= start or end <= now:
            raise ApiError(
                400,
                "InvalidParam.CodeIllegalDuration",
                "The value of start time should be less than the value of end time.",
            )
        callback = params.get("CallbackUrl", "")
        if len(callback) > 2000:
            raise _invalid("CallbackUrl is longer than 2000 characters.")
        retry_interval = _int(params, "RetryInterval", 60)
        if retry_interval is not None and not 60 <= retry_interval <= 300:
            raise _invalid("RetryInterval must be within 60-300.")
        self._check_dst_url(dst_url)
        task_id = str(uuid.uuid4())
        info: dict[str, Any] = {
            "TaskId": task_id,
            "TaskName": params.get("TaskName", ""),
            "StartTime": params["StartTime"],
            "EndTime": params["EndTime"],
            "SourceType": source_type,
            "SourceUrls": urls,
            "SourceProtocol": protocol,
            "DstUrl": dst_url,
            "CallbackURL": callback,
            "RetryCount": _int(params, "RetryCount", 3),
            "RetryInterval": retry_interval,
            "RepeatNumber": _int(params, "RepeatNumber", None),
            "FileIndex": _int(params, "FileIndex", None),
            "Offset": _int(params, "Offset", None),
        }
        task = PullToPushTask(task_id, region, info, status=1 if start <= now else 0)
        task.extra.update(start=start, end=end)
        self._tasks[task_id] = task
        return task_id

    def _holds_dst_url(self, task: PullToPushTask) -> bool:
        """Live tasks hold their DstUrl; a deleted one until its deletion has propagated."""
        if task.deleted:
            deleted_at = task.deleted_at
            return (
                deleted_at is not None
                and self.wall_clock() < deleted_at + self.delete_propagation_seconds
            )
        return task.status != -1

    def _check_dst_url(self, dst_url: str, exclude: str | None = None) -> None:
        if not self.reject_duplicate_dst_url:
            return
        for other in self._tasks.values():
            if other.task_id != exclude and other.dst_url == dst_url and self._holds_dst_url(other):
                raise ApiError(400, DST_URL_CONFLICT_CODE, DST_URL_CONFLICT_MESSAGE)

    def _list(self, params: Mapping[str, str]) -> dict[str, Any]:
        region = _require(params, "Region")
        page_number = _int(params, "PageNumber", 1) or 1
        page_size = _int(params, "PageSize", 10) or 10
        if page_number < 1 or not 1 <= page_size <= 100:
            raise _invalid("PageNumber must be at least 1 and PageSize within 1-100.")
        filters = {key: params.get(key) for key in ("TaskId", "TaskName", "DstUrl")}
        matching = [
            task
            for task in self._tasks.values()
            if not task.deleted
            and task.region == region
            and all(not wanted or wanted in str(task.info[key]) for key, wanted in filters.items())
        ]
        first = (page_number - 1) * page_size
        return {
            "Total": len(matching),
            "PageNumber": page_number,
            "PageSize": page_size,
            "TaskList": [task.describe() for task in matching[first : first + page_size]],
        }

    def _update(self, task: PullToPushTask, params: Mapping[str, str]) -> None:
        changes: dict[str, Any] = {}
        for name, key in (("StartTime", "start"), ("EndTime", "end")):
            if params.get(name):
                task.extra[key] = _parse_time(params, name)
                changes[name] = params[name]
        if params.get("SourceUrls"):
            changes["SourceUrls"] = _source_urls(params["SourceUrls"], task.info["SourceType"])
        if "CallbackUrl" in params:
            changes["CallbackURL"] = params["CallbackUrl"]
        if params.get("DstUrl"):
            self._check_dst_url(params["DstUrl"], exclude=task.task_id)
            changes["DstUrl"] = params["DstUrl"]
        for name in ("RepeatNumber", "FileIndex", "Offset"):
            if params.get(name):
                changes[name] = _int(params, name, None)
        task.info.update(changes)


_JSON = {"Content-Type": "application/json"}


def _json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _string_to_sign(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], body_sha256: str
) -> str:
    canonical_headers, signed_headers = get_canonicalized_headers(headers)
    canonical = "\n".join(
        [method, path, get_canonical_query_string(query), canonical_headers, signed_headers]
    )
    canonical += "\n" + body_sha256
    return "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
