"""Client of the ARTC operations of the Live OpenAPI: cloud transcode and WHIP ingest URLs.

Same transport as :class:`~handlers.aliyun_client.AliyunLiveClient` (RPC style, Version
``2016-11-01``, ``ACS3-HMAC-SHA256``), with two budgets of its own: the transcode operations
share ``qps`` calls per second, ``CreateRTCWhipStreamAddress`` has its documented 40.

A StartRtcCloudTranscode whose answer is lost (timeout, 5xx after acting) cannot be looked
up: the provider offers no list of jobs and Describe needs the TaskId that was lost. What
makes the retry safe is that everything a job publishes is named by the declaration, never
minted per attempt: the re-sent Start is the *identical* request, so its output joins the
channel under the same output ``UserId``, which the provider requires to be unique in the
channel; one session holds a UserId and a newer join replaces the older (inferred, see
docs/protocols.md), so the orphaned job's output leaves the channel.
An orphan also ends on its own: it stops ``MaxIdleTime`` seconds after its source user
leaves the channel, which the relay's end brings about. Callers therefore (1) persist the
request before sending it, (2) on a lost answer re-send exactly that request, (3) record the
TaskId of the answer that arrives, and (4) keep ``MaxIdleTime`` small (:data:`DEFAULT_MAX_IDLE`).
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Unpack

import httpx
import msgspec

from handlers.aliyun_client import ALIYUN_LIVE_VERSION, AliyunLiveClient, query_value
from handlers.aliyun_signing import canonical_query
from handlers.outcome import Outcome, ProviderError
from handlers.provider_answers import (
    Answer,
    TaskCreated,
    TranscodeAnswer,
    TranscodeInfo,
    WhipAnswer,
)
from handlers.provider_http import HttpOptions
from handlers.ratelimit import RateLimiter, WindowRateLimiter

__all__ = [
    "ARTC_CODES",
    "DEFAULT_MAX_IDLE",
    "DEFAULT_WHIP_EXPIRE",
    "WHIP_QPS",
    "ArtcClient",
    "TranscodeJob",
    "TranscodeOutput",
    "TranscodeStatus",
    "TranscodeTemplate",
    "WhipAddress",
    "classify_artc",
]

WHIP_QPS = 40
DEFAULT_WHIP_EXPIRE = 43_200
#: The provider's default idle timeout; also how long an orphaned job can outlive its source.
DEFAULT_MAX_IDLE = 300
_MAX_IDLE_RANGE = (10, 14_400)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
T = TypeVar("T")

#: The codes these operations document, classified (anything else: the Live OpenAPI rules).
ARTC_CODES: Mapping[str, Outcome] = {
    "TooManyRequests": Outcome.THROTTLED,
    "InternalError": Outcome.RETRYABLE,
    "ServerError": Outcome.RETRYABLE,
    "InvalidParameter": Outcome.REJECTED,
    "MissingParameter": Outcome.REJECTED,
    "InputInvalid": Outcome.REJECTED,
    "Forbidden": Outcome.REJECTED,
    "NoAuth": Outcome.REJECTED,
    "NotFound": Outcome.REJECTED,
    "ResourceNotExist": Outcome.REJECTED,
}


def classify_artc(code: str, default: Outcome) -> Outcome:
    """The outcome of an ARTC error ``code``; ``default`` when the code is not one of these."""
    return ARTC_CODES.get(code.split(".", 1)[0], default)


def _check_id(name: str, value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(f"{name} must be 1-64 letters, digits, '_' or '-'")
    return value


class TranscodeTemplate(enum.StrEnum):
    """The cloud transcode templates."""

    ALIMCOPY = "alimcopy"
    LLD = "lld"
    LSD = "lsd"
    LHD = "lhd"
    LUD = "lud"


class TranscodeStatus(enum.StrEnum):
    """``DescribeRtcCloudTranscode`` ``TaskInfo.Status``."""

    STARTING = "STARTING"
    RUNNING = "RUNNING"
    RECOVERING = "RECOVERING"
    STOPPED = "STOPPED"


@dataclass(frozen=True, slots=True)
class TranscodeOutput:
    """One transcoded stream: published into the channel as ``user_id`` with ``user_token``."""

    user_id: str
    user_token: str = field(repr=False)
    template: TranscodeTemplate

    def __post_init__(self) -> None:
        _check_id("output UserId", self.user_id)
        if not self.user_token:
            raise ValueError("output UserToken must not be empty")
        object.__setattr__(self, "template", TranscodeTemplate(self.template))


@dataclass(frozen=True, slots=True)
class TranscodeJob:
    """A StartRtcCloudTranscode request, validated on construction (ValueError)."""

    app_id: str
    channel_id: str
    source_user_id: str
    outputs: tuple[TranscodeOutput, ...]
    max_idle_time: int = DEFAULT_MAX_IDLE

    def __post_init__(self) -> None:
        _check_id("AppId", self.app_id)
        _check_id("ChannelId", self.channel_id)
        _check_id("source UserId", self.source_user_id)
        if not self.outputs:
            raise ValueError("OutputParams needs at least one output")
        names = [o.user_id for o in self.outputs]
        if len(set(names)) != len(names) or self.source_user_id in names:
            raise ValueError("output UserIds must differ from each other and from the source")
        low, high = _MAX_IDLE_RANGE
        if isinstance(self.max_idle_time, bool) or not low <= self.max_idle_time <= high:
            raise ValueError(f"MaxIdleTime must be within {low}-{high} seconds")

    def params(self) -> dict[str, object]:
        """The operation's parameters (InputParam/OutputParams travel as JSON strings)."""
        source = {"UserId": self.source_user_id, "StreamType": 0, "SourceType": 0}
        outputs = [
            {
                "ChannelId": self.channel_id,
                "UserId": o.user_id,
                "UserToken": o.user_token,
                "TranscodeTemplate": str(o.template),
            }
            for o in self.outputs
        ]
        return {
            "AppId": self.app_id,
            "ChannelId": self.channel_id,
            "InputParam": {"SingleSubUserParam": source},
            "OutputParams": outputs,
            "MaxIdleTime": self.max_idle_time,
        }


@dataclass(frozen=True, slots=True)
class WhipAddress:
    """A WHIP ingest URL (a secret: hand it out once, never log it) and when it expires."""

    address: str = field(repr=False)
    expires_at: int
    user_id: str


class ArtcClient(AliyunLiveClient):
    """Cloud transcode and WHIP ingest URLs on the Live OpenAPI of one account.

    ``qps`` budgets the transcode operations together; ``whip_qps`` (default the documented
    40) budgets CreateRTCWhipStreamAddress. UserTokens are masked in every error message.
    """

    def __init__(
        self,
        endpoint: str = "https://live.aliyuncs.com",
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        *,
        qps: int = 10,
        whip_limiter: RateLimiter | None = None,
        whip_qps: int = WHIP_QPS,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(
            endpoint,
            access_key_id,
            access_key_secret,
            qps=qps,
            clock=clock,
            nonce_factory=nonce_factory,
            **options,
        )
        self.whip_limiter = whip_limiter or WindowRateLimiter(whip_qps)
        self._clock = clock

    async def _rpc(
        self,
        action: str,
        params: Mapping[str, Any],
        answer: type[T],
        *,
        secrets: Iterable[str] = (),
        limiter: RateLimiter | None = None,
    ) -> T:
        pairs = [(k, query_value(v)) for k, v in params.items() if v is not None]
        query = canonical_query(pairs).encode("ascii")
        headers = {"x-acs-action": action, "x-acs-version": ALIYUN_LIVE_VERSION}

        def build() -> httpx.Request:
            request = self._build("POST", headers=headers, content=None)
            request.url = request.url.copy_with(query=query)
            return request

        return await self._send(action, build, answer, secrets=secrets, limiter=limiter)

    async def start_transcode(self, job: TranscodeJob) -> str:
        """StartRtcCloudTranscode; returns the job's TaskId (see the module notes on retries)."""
        tokens = [o.user_token for o in job.outputs]
        action = "StartRtcCloudTranscode"
        answer = await self._rpc(action, job.params(), TaskCreated, secrets=tokens)
        return self._field(answer.TaskId, action, "TaskId")

    async def stop_transcode(self, app_id: str, task_id: str) -> None:
        """StopRtcCloudTranscode (a job already gone answers a REJECTED not-found code)."""
        params = {"AppId": _check_id("AppId", app_id), "TaskId": _check_id("TaskId", task_id)}
        await self._rpc("StopRtcCloudTranscode", params, Answer)

    async def describe_transcode(self, app_id: str, task_id: str) -> TranscodeInfo:
        """DescribeRtcCloudTranscode: the ``TaskInfo`` with ``Status`` as a TranscodeStatus.

        The UserTokens the provider echoes in ``OutputParams`` are not kept.
        """
        params = {"AppId": _check_id("AppId", app_id), "TaskId": _check_id("TaskId", task_id)}
        action = "DescribeRtcCloudTranscode"
        info = (await self._rpc(action, params, TranscodeAnswer)).TaskInfo
        if info is None:
            raise self._error(
                action, Outcome.REJECTED, "InvalidResponse", "answer without a TaskInfo object"
            )
        try:
            status = TranscodeStatus(str(info.Status))
        except ValueError:
            raise self._error(
                action,
                Outcome.REJECTED,
                "InvalidResponse",
                f"unknown transcode status {str(info.Status)[:40]!r}",
            ) from None
        return msgspec.structs.replace(info, Status=status)

    async def create_whip_address(
        self,
        app_id: str,
        channel_id: str,
        user_id: str,
        display_name: str,
        *,
        expire_time: int = DEFAULT_WHIP_EXPIRE,
    ) -> WhipAddress:
        """CreateRTCWhipStreamAddress for OBS; ``user_id`` must be unique in the channel."""
        if isinstance(expire_time, bool) or expire_time < 1:
            raise ValueError("ExpireTime must be a positive number of seconds")
        if not display_name or len(display_name) > 64:
            raise ValueError("DisplayName must be 1-64 characters")
        params = {
            "AppId": _check_id("AppId", app_id),
            "ChannelId": _check_id("ChannelId", channel_id),
            "UserId": _check_id("UserId", user_id),
            "DisplayName": display_name,
            "ExpireTime": expire_time,
        }
        issued = int(self._clock())
        action = "CreateRTCWhipStreamAddress"
        answer = await self._rpc(action, params, WhipAnswer, limiter=self.whip_limiter)
        address = self._field(answer.WhipAddress, action, "WhipAddress")
        if not address.startswith("https://"):
            raise self._error(action, Outcome.REJECTED, "InvalidResponse", "WhipAddress not HTTPS")
        return WhipAddress(address, issued + expire_time, user_id)

    def _field(self, value: str, api: str, name: str) -> str:
        """A field the answer must carry (REJECTED when it does not)."""
        if not value:
            raise self._error(api, Outcome.REJECTED, "InvalidResponse", f"answer without {name}")
        return value

    def _interpret(
        self, api: str, response: httpx.Response, secrets: tuple[str, ...], answer: type[T]
    ) -> T:
        try:
            return super()._interpret(api, response, secrets, answer)
        except ProviderError as exc:
            outcome = classify_artc(exc.code, exc.outcome)
            if outcome is exc.outcome:
                raise
            raise self._error(
                api,
                outcome,
                exc.code,
                exc.message,
                retry_after=exc.retry_after,
                request_id=exc.request_id,
                http_status=exc.http_status,
            ) from None
