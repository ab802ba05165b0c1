"""A fake Tencent TRTC API (Version 2019-07-22): the stream-ingest operations.

It checks ``TC3-HMAC-SHA256`` signatures (the HMAC chain by the official SDK's
``tencentcloud.common.sign.Sign.sign_tc3``) and the timestamp's freshness (5 minutes),
enforces 20 calls per second per API, answers like API 3.0 (errors with HTTP 200 in
``Response.Error``, ``Content-Type: application/json`` exactly, so the official SDK raises on
them) and keeps ingest tasks. The official SDK client is accepted (tested).

Usage::

    fake = FakeTrtc()
    with fake.serve() as url:
        client = TrtcClient(url, fake.secret_id, fake.secret_key)
        fake.inject("StartStreamIngest", "throttle")
        fake.finish_task(task_id)  # the source ended: Describe says NotExist, no callback
        fake.finish_task(task_id, notify=True)  # ... and the 702 stop callback is sent
        fake.fail_next_starts()  # the next start answers a TaskId, then fails (701 Status 1)

Callbacks go to ``callback_url`` signed with ``callback_key`` (TRTC's console settings, one
per application), through :attr:`callbacks` (which can lose them). With ``auto_callbacks``
an API start sends 701 Status 0 and an API stop 702, after the API answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from tencentcloud.common.sign import Sign

from tests.fakes.common import CallRecord, ErrorFault, FakeProvider, Fault

__all__ = ["INGEST_ACTIONS", "FakeTrtc", "IngestTask", "TrtcError", "sign_callback"]

VERSION = "2019-07-22"
SERVICE = "trtc"
INGEST_ACTIONS = frozenset(
    {"StartStreamIngest", "StopStreamIngest", "DescribeStreamIngest", "UpdateStreamIngest"}
)
_MAX_SKEW = 300
_AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/\s]+)"
    r"/tc3_request, SignedHeaders=(?P<names>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)
_THROTTLED = ("RequestLimitExceeded", "Your current request rate exceeds the limit.")
_INTERNAL = ("InternalError", "An internal error occurred.")
_FINISHED = ("FailedOperation.TaskFinished", "The task has ended.")
EVENT_START = 701
EVENT_STOP = 702


class TrtcError(Exception):
    """An API 3.0 error (answered with HTTP 200 unless ``status`` says otherwise)."""

    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass
class IngestTask:
    """One stream-ingest task."""

    task_id: str
    sdk_app_id: int
    room_id: str
    user_id: str
    params: dict[str, Any]
    in_progress: bool = True
    history: list[str] = field(default_factory=list)


def sign_callback(body: bytes, key: str) -> str:
    """The ``Sign`` header TRTC puts on its callbacks: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _new_task_id() -> str:
    # Opaque like the real ones: leading "-", base64 with "+" and "/", trailing "..".
    return "-" + base64.b64encode(b"\xfb\xff" + os.urandom(31)).decode() + ".."


def _missing(name: str) -> TrtcError:
    return TrtcError("MissingParameter", f"The request is missing a required parameter `{name}`.")


def _int_param(params: Mapping[str, Any], name: str) -> int:
    if name not in params:
        raise _missing(name)
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TrtcError(f"InvalidParameter.{name}", f"{name} must be an integer.")
    return value


def _str_param(params: Mapping[str, Any], name: str) -> str:
    if name not in params:
        raise _missing(name)
    value = params[name]
    if not isinstance(value, str) or not value:
        raise TrtcError(f"InvalidParameter.{name}", f"{name} must be a non-empty string.")
    return value


class FakeTrtc(FakeProvider):
    """TRTC stream ingest on one account.

    ``qps`` limits each API separately in any 1-s window (None: no limit); ``wall_clock`` is
    the provider's clock for timestamp freshness. A second start for a room and user whose
    ingest is in progress answers ``FailedOperation.TaskExist``.
    """

    def __init__(
        self,
        secret_id: str = "AKIDfakeTrtcSecretId0000000000000000",
        secret_key: str = "fakeTrtcSecretKey000000000000000",
        *,
        qps: int | None = 20,
        hang_seconds: float = 30.0,
        wall_clock: Callable[[], float] = time.time,
        callback_url: str | None = None,
        callback_key: str | None = None,
        auto_callbacks: bool = False,
    ) -> None:
        super().__init__(qps=qps, hang_seconds=hang_seconds)
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.wall_clock = wall_clock
        self.callback_url = callback_url
        self.callback_key = callback_key
        self.auto_callbacks = auto_callbacks
        self._configured = (callback_url, callback_key, auto_callbacks)
        self._failing_starts = 0
        self._tasks: dict[str, IngestTask] = {}
        self.app = Starlette(routes=[Route("/", self._handle, methods=["POST", "GET"])])

    # ---------------------------------------------------------------- state helpers

    def _reset_state(self) -> None:
        self._tasks.clear()
        self._failing_starts = 0
        self.callback_url, self.callback_key, self.auto_callbacks = self._configured

    @property
    def tasks(self) -> list[IngestTask]:
        """Every ingest task ever started, oldest first."""
        with self._lock:
            return list(self._tasks.values())

    def task(self, task_id: str) -> IngestTask:
        """One task by id (KeyError when unknown)."""
        with self._lock:
            return self._tasks[task_id]

    def add_task(self, params: Mapping[str, Any]) -> str:
        """Start an ingest directly (as if started elsewhere); returns its TaskId."""
        with self._lock:
            return self._start(dict(params))

    def finish_task(self, task_id: str, reason: str = "finished", *, notify: bool = False) -> None:
        """End an ingest on its own (source ended, idle timeout …): Describe says ``NotExist``.

        Silent unless ``notify``, which sends the 702 stop callback.
        """
        with self._lock:
            task = self._tasks[task_id]
            task.in_progress = False
            task.history.append(reason)
        if notify:
            self.send_callback(task_id, EVENT_STOP)

    def fail_next_starts(self, count: int = 1) -> None:
        """The next ``count`` API starts answer a TaskId, then fail: the ingest never runs and
        a 701 callback with ``Status`` 1 is sent (when a ``callback_url`` is set)."""
        with self._lock:
            self._failing_starts += count

    def send_callback(
        self, task_id: str, event_type: int, status: int = 0
    ) -> httpx.Response | None:
        """Send a signed stream-ingest callback to ``callback_url`` (None: lost or no answer)."""
        url, raw, headers = self._signed_callback(task_id, event_type, status)
        return self.callbacks.send(url, raw, headers)

    def _signed_callback(
        self, task_id: str, event_type: int, status: int
    ) -> tuple[str, bytes, dict[str, str]]:
        if not self.callback_url or not self.callback_key:
            raise ValueError("set callback_url and callback_key to send TRTC callbacks")
        with self._lock:
            sdk_app_id = self._tasks[task_id].sdk_app_id
        raw = json.dumps(self.callback_body(task_id, event_type=event_type, status=status)).encode()
        headers = {
            "Content-Type": "application/json",
            "Sign": sign_callback(raw, self.callback_key),
            "SdkAppId": str(sdk_app_id),
        }
        return self.callback_url, raw, headers

    def restart_task(self, task_id: str) -> None:
        """Bring an ended ingest back (for tests of flapping tasks)."""
        with self._lock:
            task = self._tasks[task_id]
            task.in_progress = True
            task.history.append("restarted")

    def callback_body(
        self, task_id: str, *, event_type: int = 701, status: int = 0, event_ms: int | None = None
    ) -> dict[str, Any]:
        """A stream-ingest callback (group 7): 701 start (``status`` 0/1/2) or 702 stop."""
        ms = event_ms if event_ms is not None else int(self.wall_clock() * 1000)
        return {
            "EventGroupId": 7,
            "EventType": event_type,
            "CallbackMsTs": ms,
            "EventInfo": {"EventMsTs": ms, "TaskId": task_id, "Status": status},
        }

    def post_callback(
        self, url: str, body: Mapping[str, Any], *, key: str, sdk_app_id: int | None = None
    ) -> httpx.Response:
        """POST a callback the way TRTC does: raw JSON body, ``Sign`` and ``SdkAppId`` headers."""
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Sign": sign_callback(raw, key)}
        if sdk_app_id is not None:
            headers["SdkAppId"] = str(sdk_app_id)
        return httpx.post(url, content=raw, headers=headers, timeout=5.0)

    # ---------------------------------------------------------------- HTTP

    async def _handle(self, request: Request) -> Response:
        arrival = time.monotonic()
        raw = await request.body()
        action = request.headers.get("x-tc-action", "")
        try:
            params = json.loads(raw) if raw else {}
        except ValueError:
            params = None
        record = self._record(request, action, params if isinstance(params, dict) else {}, arrival)
        try:
            self._authenticate(request, raw)
            if action not in INGEST_ACTIONS:
                raise TrtcError("InvalidAction", f"The action `{action}` is not found.")
            if request.headers.get("x-tc-version") != VERSION:
                raise TrtcError("NoSuchVersion", "The requested version does not exist.")
            if not request.headers.get("x-tc-region"):
                raise TrtcError(
                    "MissingParameter", "The request is missing a required parameter `Region`."
                )
            if not request.headers.get("content-type", "").startswith("application/json"):
                raise TrtcError("InvalidParameter", "Content-Type must be application/json.")
            if not isinstance(params, dict):
                raise TrtcError("InvalidParameter.BodyParamsError", "Failed to parse body params.")
            if not self._window.admit(action, arrival):
                raise TrtcError(*_THROTTLED)
            fault = self._faults.pop(action)
            if fault is not None:
                return await self._apply_fault(request, record, fault, params)
            result = self._perform(record, params)
        except TrtcError as exc:
            return self._error(record, exc)
        response = self._ok(record, result)
        response.background = self._notification(record, params, result)
        return response

    def _notification(
        self, record: CallRecord, params: dict[str, Any], result: dict[str, Any]
    ) -> BackgroundTask | None:
        """The callback an API call causes, sent after its answer (None: none is due)."""
        if not record.acted or not self.callback_url or not self.callback_key:
            return None
        if record.action == "StartStreamIngest":
            task_id = str(result["TaskId"])
            failed = "start_failed" in self.task(task_id).history
            if not failed and not self.auto_callbacks:
                return None
            event, status = EVENT_START, 1 if failed else 0
        elif record.action == "StopStreamIngest" and self.auto_callbacks:
            task_id, event, status = str(params["TaskId"]), EVENT_STOP, 0
        else:
            return None
        return BackgroundTask(self.callbacks.asend, *self._signed_callback(task_id, event, status))

    async def _apply_fault(
        self, request: Request, record: CallRecord, fault: Fault, params: dict[str, Any]
    ) -> Response:
        record.fault = fault if isinstance(fault, str) else f"error:{fault.code}"
        if isinstance(fault, ErrorFault):
            if fault.acted:
                self._perform(record, params)
            raise TrtcError(fault.code, fault.message, fault.status)
        transport_answer = self._transport_fault(request, record, fault)
        if transport_answer is not None:
            return transport_answer
        if fault == "throttle":
            raise TrtcError(*_THROTTLED)
        if fault in ("5xx", "bad_gateway"):
            raise TrtcError("BadGateway", "502 Bad Gateway", 502)
        if fault in ("acted_but_lost", "acted_but_timeout"):
            self._perform(record, params)
            if fault == "acted_but_lost":
                raise TrtcError("BadGateway", "502 Bad Gateway", 502)
        await self._hang(request)
        record.outcome = "timeout"
        return Response(status_code=504)

    def _ok(self, record: CallRecord, result: dict[str, Any]) -> Response:
        record.outcome, record.status = "ok", 200
        return JSONResponse({"Response": {**result, "RequestId": str(uuid.uuid4())}})

    def _error(self, record: CallRecord, exc: TrtcError) -> Response:
        record.outcome, record.status = exc.code, exc.status
        if exc.status != 200:  # a gateway answer, not API 3.0
            return PlainTextResponse(f"<html><body>{exc.message}</body></html>", exc.status)
        error = {"Code": exc.code, "Message": exc.message}
        return JSONResponse({"Response": {"Error": error, "RequestId": str(uuid.uuid4())}})

    def _authenticate(self, request: Request, body: bytes) -> None:
        match = _AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
        if match is None:
            raise TrtcError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature "
                "is correct.",
            )
        if match["id"] != self.secret_id:
            raise TrtcError("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        try:
            timestamp = int(request.headers.get("x-tc-timestamp", ""))
        except ValueError:
            raise TrtcError(
                "MissingParameter", "The request is missing a required parameter `Timestamp`."
            ) from None
        if abs(self.wall_clock() - timestamp) > _MAX_SKEW:
            raise TrtcError(
                "AuthFailure.SignatureExpire",
                f"Signature expired. Timestamp {timestamp} is more than 5 minutes off.",
            )
        date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
        names = match["names"].split(";")
        if (
            match["date"] != date
            or match["service"] != SERVICE
            or not {"content-type", "host"} <= set(names)
            or any(name not in request.headers for name in names)
        ):
            raise TrtcError("AuthFailure.SignatureFailure", "The credential scope is invalid.")
        query = request.url.query if request.method == "GET" else ""
        headers = "".join(f"{name}:{request.headers[name].strip().lower()}\n" for name in names)
        canonical = (
            "\n".join([request.method, request.url.path, query, headers, match["names"]])
            + "\n"
            + hashlib.sha256(body).hexdigest()
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{SERVICE}/tc3_request\n{digest}"
        expected = Sign.sign_tc3(self.secret_key, date, SERVICE, string_to_sign)
        if not hmac.compare_digest(expected, match["signature"]):
            raise TrtcError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature "
                "is correct.",
            )

    # ---------------------------------------------------------------- operations

    def _perform(self, record: CallRecord, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if record.action == "StartStreamIngest":
                task_id = self._start(params)
                record.acted = True
                if self._failing_starts > 0:  # accepted, then the ingest fails to start
                    self._failing_starts -= 1
                    self._tasks[task_id].in_progress = False
                    self._tasks[task_id].history.append("start_failed")
                return {"TaskId": task_id}
            sdk_app_id = _int_param(params, "SdkAppId")
            task_id = _str_param(params, "TaskId")
            task = self._tasks.get(task_id)
            live = task is not None and task.sdk_app_id == sdk_app_id and task.in_progress
            if record.action == "DescribeStreamIngest":
                return {"Status": "InProgress" if live else "NotExist"}
            if task is None or not live:
                # Unknown and ended tasks look the same to the provider.
                raise TrtcError(*_FINISHED)
            record.acted = True
            if record.action == "StopStreamIngest":
                task.in_progress = False
                task.history.append("stopped")
                return {}
            for name in ("StreamUrl", "Volume", "IsPause", "EnableProgress", "Tempo"):
                if name in params:
                    task.params[name] = params[name]
            task.history.append("updated")
            return {"Status": "InProgress"}

    def _start(self, params: dict[str, Any]) -> str:
        sdk_app_id = _int_param(params, "SdkAppId")
        room_id = _str_param(params, "RoomId")
        room_id_type = _int_param(params, "RoomIdType")
        if room_id_type not in (0, 1):
            raise TrtcError("InvalidParameter.RoomIdType", "RoomIdType must be 0 or 1.")
        user_id = _str_param(params, "UserId")
        _str_param(params, "UserSig")
        if not params.get("StreamUrl") and not params.get("SourceUrl"):
            raise TrtcError("InvalidParameter.StreamUrl", "StreamUrl is required.")
        for other in self._tasks.values():
            if other.in_progress and (other.sdk_app_id, other.room_id, other.user_id) == (
                sdk_app_id,
                room_id,
                user_id,
            ):
                raise TrtcError("FailedOperation.TaskExist", "The task already exists.")
        task_id = _new_task_id()
        self._tasks[task_id] = IngestTask(task_id, sdk_app_id, room_id, user_id, dict(params))
        return task_id
