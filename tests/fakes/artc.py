"""A fake of the Live OpenAPI's ARTC operations: cloud transcode and WHIP ingest URLs.

It is the fake Live OpenAPI (:class:`~tests.fakes.aliyun_live.FakeAliyunLive`: ACS3
signatures checked with the official SDK's function, nonces, dates, Alibaba's error format,
faults, call records) serving four other operations: StartRtcCloudTranscode,
StopRtcCloudTranscode, DescribeRtcCloudTranscode and CreateRTCWhipStreamAddress (40 calls/s
per account). Errors use the codes these operations document.

Channel membership is modelled as far as the client's safety argument needs it: users join
and leave (:meth:`FakeArtc.join`, :meth:`FakeArtc.leave`); a job's output joins as its output
UserId and a later join under the same UserId replaces it; a job stops by itself once its
source user has been absent for ``MaxIdleTime`` seconds.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.aliyun_live import PULL_TO_PUSH_ACTIONS, ApiError, FakeAliyunLive
from tests.fakes.common import CallRecord, QpsWindow

__all__ = ["ARTC_ACTIONS", "FakeArtc", "FakeLiveWithArtc", "TranscodeTask"]

ARTC_ACTIONS = frozenset(
    {
        "StartRtcCloudTranscode",
        "StopRtcCloudTranscode",
        "DescribeRtcCloudTranscode",
        "CreateRTCWhipStreamAddress",
    }
)
_TEMPLATES = frozenset({"alimcopy", "lld", "lsd", "lhd", "lud"})
_THROTTLED = (429, "TooManyRequests", "Too many requests, please try again later.")

Member = tuple[str, str, str]  # (AppId, ChannelId, UserId)


@dataclass
class TranscodeTask:
    """One cloud transcode job as the provider keeps it."""

    task_id: str
    app_id: str
    channel_id: str
    source_user: str
    outputs: list[dict[str, str]]
    max_idle: int
    created: float
    stopped: bool = False
    replaced: set[str] = field(default_factory=set)  # output UserIds taken over by a later job


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise ApiError(400, "MissingParameter", f"The input parameter {name} is mandatory.")
    return value


def _json(params: Mapping[str, str], name: str) -> Any:
    try:
        return json.loads(_required(params, name))
    except ValueError:
        raise ApiError(400, "InputInvalid", f"{name} is not valid JSON.") from None


class FakeArtc(FakeAliyunLive):
    """The ARTC operations of one account; ``apps`` are the ARTC AppIds that exist."""

    def __init__(
        self,
        *args: Any,
        apps: frozenset[str] = frozenset({"fake-artc-app"}),
        whip_qps: int | None = 40,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("qps", None)  # the transcode operations document no limit
        super().__init__(*args, **kwargs)
        self.actions = ARTC_ACTIONS
        self.apps = apps
        self._whip_window = QpsWindow(whip_qps)
        self._jobs: dict[str, TranscodeTask] = {}
        self._left: dict[Member, float] = {}  # member → when it left
        self._present: set[Member] = set()
        self.whip_addresses: list[dict[str, Any]] = []

    def _reset_state(self) -> None:
        super()._reset_state()
        self._whip_window.clear()
        self._jobs.clear()
        self._left.clear()
        self._present.clear()
        self.whip_addresses.clear()

    # ---------------------------------------------------------------- channel model

    def join(self, app_id: str, channel_id: str, user_id: str) -> None:
        """A user (the relay's source) joined the channel."""
        with self._lock:
            self._present.add((app_id, channel_id, user_id))
            self._left.pop((app_id, channel_id, user_id), None)

    def leave(self, app_id: str, channel_id: str, user_id: str) -> None:
        """A user left the channel (its transcode jobs start idling)."""
        with self._lock:
            self._present.discard((app_id, channel_id, user_id))
            self._left[(app_id, channel_id, user_id)] = self.wall_clock()

    @property
    def jobs(self) -> list[TranscodeTask]:
        """Every job ever started, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def status(self, task_id: str) -> str:
        """A job's status now: STARTING, RUNNING, RECOVERING or STOPPED."""
        with self._lock:
            job = self._jobs[task_id]
            if job.stopped:
                return "STOPPED"
            source = (job.app_id, job.channel_id, job.source_user)
            if source in self._present:
                return "RUNNING"
            since = self._left.get(source, job.created)
            if self.wall_clock() - since >= job.max_idle:
                job.stopped = True
                return "STOPPED"
            return "RECOVERING" if source in self._left else "STARTING"

    def publishers(self, app_id: str, channel_id: str, user_id: str) -> list[str]:
        """TaskIds of the running jobs whose output is in the channel as ``user_id``."""
        with self._lock:
            return [
                job.task_id
                for job in self._jobs.values()
                if (job.app_id, job.channel_id) == (app_id, channel_id)
                and self.status(job.task_id) != "STOPPED"
                and user_id not in job.replaced
                and any(o["UserId"] == user_id for o in job.outputs)
            ]

    # ---------------------------------------------------------------- operations

    def _admit(self, action: str, arrival: float) -> None:
        window, key = (
            (self._whip_window, "whip")
            if action == "CreateRTCWhipStreamAddress"
            else (self._window, "transcode")
        )
        if not window.admit(key, arrival):
            raise ApiError(*_THROTTLED)

    def _perform(self, record: CallRecord, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            app_id = _required(params, "AppId")
            if app_id not in self.apps:
                raise ApiError(404, "ResourceNotExist", f"The AppId {app_id} does not exist.")
            if record.action == "StartRtcCloudTranscode":
                record.acted = True
                return {"TaskId": self._start(app_id, params)}
            if record.action == "CreateRTCWhipStreamAddress":
                record.acted = True
                return {"WhipAddress": self._whip(app_id, params)}
            job = self._jobs.get(_required(params, "TaskId"))
            if job is None or job.app_id != app_id:
                raise ApiError(404, "NotFound", "The specified task does not exist.")
            if record.action == "DescribeRtcCloudTranscode":
                return {"TaskInfo": self._describe(job)}
            record.acted = not job.stopped
            job.stopped = True
            return {}

    def _start(self, app_id: str, params: Mapping[str, str]) -> str:
        channel = _required(params, "ChannelId")
        single = _json(params, "InputParam")
        source = single.get("SingleSubUserParam") if isinstance(single, dict) else None
        if not isinstance(source, dict) or not source.get("UserId"):
            raise ApiError(400, "InvalidParameter", "InputParam.SingleSubUserParam.UserId.")
        outputs = _json(params, "OutputParams")
        if not isinstance(outputs, list) or not outputs:
            raise ApiError(400, "InvalidParameter", "OutputParams must be a non-empty array.")
        for output in outputs:
            if not isinstance(output, dict) or not all(
                output.get(k) for k in ("UserId", "UserToken", "TranscodeTemplate")
            ):
                raise ApiError(400, "InvalidParameter", "Each output needs UserId and UserToken.")
            if output["TranscodeTemplate"] not in _TEMPLATES:
                raise ApiError(400, "InvalidParameter", "TranscodeTemplate is not valid.")
            if output["UserId"] == source["UserId"]:
                raise ApiError(400, "InvalidParameter", "Output UserId equals the input's.")
        idle = int(params.get("MaxIdleTime") or 300)
        if not 10 <= idle <= 14_400:
            raise ApiError(400, "InvalidParameter", "MaxIdleTime must be within [10,14400].")
        # One session per UserId in a channel: the newer join takes the UserId over.
        for user in (str(o["UserId"]) for o in outputs):
            for other in self._jobs.values():
                same_channel = (other.app_id, other.channel_id) == (app_id, channel)
                if same_channel and any(o["UserId"] == user for o in other.outputs):
                    other.replaced.add(user)
        task_id = str(uuid.uuid4())
        self._jobs[task_id] = TranscodeTask(
            task_id,
            app_id,
            channel,
            str(source["UserId"]),
            [{k: str(v) for k, v in o.items()} for o in outputs],
            idle,
            self.wall_clock(),
        )
        return task_id

    def _describe(self, job: TranscodeTask) -> dict[str, Any]:
        return {
            "AppId": job.app_id,
            "ChannelId": job.channel_id,
            "TaskId": job.task_id,
            "Status": self.status(job.task_id),
            "InputParam": {
                "SingleSubUserParam": {"UserId": job.source_user, "StreamType": 0, "SourceType": 0}
            },
            "OutputParams": [dict(o) for o in job.outputs],
        }

    def _whip(self, app_id: str, params: Mapping[str, str]) -> str:
        channel = _required(params, "ChannelId")
        user = _required(params, "UserId")
        display = _required(params, "DisplayName")
        try:
            expire = int(params.get("ExpireTime") or 43_200)
        except ValueError:
            raise ApiError(400, "InvalidParameter", "ExpireTime must be an integer.") from None
        if expire < 1:
            raise ApiError(400, "InvalidParameter", "ExpireTime must be positive.")
        token = secrets.token_urlsafe(24)
        address = f"https://whip.rtc.aliyuncs.com/whip/{app_id}/{channel}/{user}?token={token}"
        self.whip_addresses.append(
            {
                "AppId": app_id,
                "ChannelId": channel,
                "UserId": user,
                "DisplayName": display,
                "ExpireTime": expire,
                "WhipAddress": address,
            }
        )
        return address


class FakeLiveWithArtc(FakeArtc):
    """The Live OpenAPI as relaywarden uses it: pull-to-push and ARTC on one endpoint.

    Pull-to-push calls keep their 10 calls/s window (``qps``), ARTC calls theirs.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("qps", 10)
        super().__init__(*args, **kwargs)
        self.actions = PULL_TO_PUSH_ACTIONS | ARTC_ACTIONS

    def _admit(self, action: str, arrival: float) -> None:
        if action in ARTC_ACTIONS:
            super()._admit(action, arrival)
        else:
            FakeAliyunLive._admit(self, action, arrival)

    def _perform(self, record: CallRecord, params: dict[str, str]) -> dict[str, Any]:
        if record.action in ARTC_ACTIONS:
            return super()._perform(record, params)
        return FakeAliyunLive._perform(self, record, params)
