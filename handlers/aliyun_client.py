"""Client of the Alibaba Cloud Live OpenAPI pull-to-push operations.

RPC style, Version ``2016-11-01``, signed with ``ACS3-HMAC-SHA256``: the operation's
parameters travel as query parameters, the action and version as ``x-acs-action`` /
``x-acs-version`` headers, arrays as one compact JSON string.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, Unpack

import httpx

from handlers.aliyun_signing import AcsV3Auth, canonical_query
from handlers.outcome import (
    ALIYUN_RESIGN_CODES,
    Outcome,
    ProviderError,
    classify_aliyun,
    sanitize,
)
from handlers.provider_answers import (
    AliyunHead,
    Answer,
    PullToPushList,
    PullToPushTask,
    TaskCreated,
)
from handlers.provider_http import (
    HttpOptions,
    ProviderHttpClient,
    parse_retry_after,
    read_json,
)

__all__ = [
    "ALIYUN_LIVE_VERSION",
    "CONFIG_EXISTS_CODE",
    "DEFAULT_ALIYUN_LIVE_ENDPOINT",
    "AliyunLiveClient",
    "is_dst_url_conflict",
    "query_value",
]

DEFAULT_ALIYUN_LIVE_ENDPOINT = "https://live.aliyuncs.com"
ALIYUN_LIVE_VERSION = "2016-11-01"
_MISSING_CREDENTIALS = (
    "Alibaba Cloud credentials are not configured: set RELAYWARDEN_ALIYUN_ACCESS_KEY_ID "
    "and RELAYWARDEN_ALIYUN_ACCESS_KEY_SECRET"
)

T = TypeVar("T")


def query_value(value: Any) -> str:
    """One parameter as the RPC style sends it: arrays/objects as compact JSON, bools lowercase."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    raise TypeError(f"unsupported parameter type {type(value).__name__}")


def _query_items(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, query_value(value)) for key, value in params.items() if value is not None]


_CONFLICT_WORDS = ("exist", "used", "conflict", "duplicate", "occupied", "already")
#: CreateLivePullToPush's documented answer when a task with the same configuration (its
#: DstUrl, unique across tasks) exists; right after a Delete it is transient.
CONFIG_EXISTS_CODE = "CodeConfigAlreadyExists"


def is_dst_url_conflict(error: ProviderError) -> bool:
    """Whether a CreateLivePullToPush error says the ``DstUrl`` is taken by another task.

    The documented code is ``CodeConfigAlreadyExists``; other answers are recognised
    tolerantly: a REJECTED one whose code or message mentions ``DstUrl`` together with a
    word like "exists"/"used"/"conflict".
    """
    if error.provider != "aliyun" or error.outcome is not Outcome.REJECTED:
        return False
    if error.code == CONFIG_EXISTS_CODE:
        return True
    text = f"{error.code} {error.message}".lower()
    return "dsturl" in text.replace("_", "").replace(" ", "") and any(
        word in text for word in _CONFLICT_WORDS
    )


class AliyunLiveClient(ProviderHttpClient):
    """Pull-to-push operations of ApsaraVideo Live, rate limited per account.

    One instance holds one connection pool and one :class:`WindowRateLimiter` (``qps`` calls
    in any second across all its operations unless a shared ``limiter`` is given). Every
    method returns its answer as a Struct of ``handlers.provider_answers`` or raises
    :class:`ProviderError`.
    """

    provider = "aliyun"
    resign_codes = ALIYUN_RESIGN_CODES
    missing_credentials = _MISSING_CREDENTIALS

    def __init__(
        self,
        endpoint: str = DEFAULT_ALIYUN_LIVE_ENDPOINT,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        *,
        qps: int = 10,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        auth: AcsV3Auth | None = None
        if access_key_id and access_key_secret:
            auth = AcsV3Auth(
                access_key_id, access_key_secret, clock=clock, nonce_factory=nonce_factory
            )
        super().__init__(endpoint, auth, qps=qps, secrets=(access_key_secret,), **options)

    async def call(
        self, action: str, params: Mapping[str, Any], answer: type[T], *, method: str = "GET"
    ) -> T:
        """Call any Live ``2016-11-01`` RPC operation with ``params`` (None values skipped);
        its answer is decoded as ``answer``."""
        query = canonical_query(_query_items(params)).encode("ascii")
        headers = {"x-acs-action": action, "x-acs-version": ALIYUN_LIVE_VERSION}

        def build() -> httpx.Request:
            request = self._build(method, headers=headers, content=None)
            request.url = request.url.copy_with(query=query or None)
            return request

        return await self._send(action, build, answer)

    async def _on_task(self, action: str, region: str, task_id: str, **fields: Any) -> Answer:
        """An operation on one task that answers nothing relaywarden reads."""
        return await self.call(action, {"Region": region, "TaskId": task_id, **fields}, Answer)

    async def create_live_pull_to_push(self, params: Mapping[str, Any]) -> TaskCreated:
        """CreateLivePullToPush (POST) with the provider's parameter names; has ``TaskId``."""
        return await self.call("CreateLivePullToPush", params, TaskCreated, method="POST")

    async def delete_live_pull_to_push(self, region: str, task_id: str) -> Answer:
        """DeleteLivePullToPush; a gone task raises REJECTED ``CodeTaskNotExist``."""
        return await self._on_task("DeleteLivePullToPush", region, task_id)

    async def stop_live_pull_to_push(self, region: str, task_id: str) -> Answer:
        """StopLivePullToPush."""
        return await self._on_task("StopLivePullToPush", region, task_id)

    async def restart_live_pull_to_push(self, region: str, task_id: str) -> Answer:
        """RestartLivePullToPush (no effect before the task's StartTime)."""
        return await self._on_task("RestartLivePullToPush", region, task_id)

    async def describe_live_pull_to_push(self, region: str, task_id: str) -> PullToPushTask:
        """DescribeLivePullToPush: ``TaskStatus``, reasons and ``TaskInfo``."""
        params = {"Region": region, "TaskId": task_id}
        return await self.call("DescribeLivePullToPush", params, PullToPushTask)

    async def describe_live_pull_to_push_list(
        self,
        region: str,
        *,
        dst_url: str | None = None,
        task_id: str | None = None,
        task_name: str | None = None,
        page_number: int = 1,
        page_size: int = 100,
    ) -> PullToPushList:
        """DescribeLivePullToPushList with fuzzy filters: ``Total`` and ``TaskList``."""
        params = {
            "Region": region,
            "DstUrl": dst_url,
            "TaskId": task_id,
            "TaskName": task_name,
            "PageNumber": page_number,
            "PageSize": page_size,
        }
        return await self.call("DescribeLivePullToPushList", params, PullToPushList)

    async def update_live_pull_to_push(self, region: str, task_id: str, **fields: Any) -> Answer:
        """UpdateLivePullToPush; ``fields`` use the provider's names (``EndTime=…``)."""
        return await self._on_task("UpdateLivePullToPush", region, task_id, **fields)

    def _interpret(
        self, api: str, response: httpx.Response, secrets: tuple[str, ...], answer: type[T]
    ) -> T:
        status = response.status_code
        head = read_json(response.content, AliyunHead)
        if head is None:
            kind = response.headers.get("content-type", "no content type")
            raise self._error(
                api,
                _classify_not_json(status),
                "InvalidResponse",
                f"HTTP {status} answer is not a JSON object ({kind})",
                http_status=status,
            )
        request_id = _text(head.RequestId)
        if 200 <= status < 300:
            if _is_nonzero(head.RetCode):
                raise self._error(
                    api,
                    Outcome.REJECTED,
                    f"RetCode{head.RetCode}",
                    sanitize(_text(head.Description) or "", secrets),
                    request_id=request_id,
                    http_status=status,
                )
            return self._decode(api, response.content, answer)
        code = _text(head.Code)
        outcome = _classify(status, code)
        retry_after = parse_retry_after(
            response.headers.get("x-acs-retry-after") or response.headers.get("retry-after")
        )
        raise self._error(
            api,
            outcome,
            code or f"HTTP{status}",
            sanitize(_text(head.Message) or "", secrets),
            retry_after=retry_after,
            request_id=request_id,
            http_status=status,
        )


def _classify_not_json(status: int) -> Outcome:
    """An answer that is not the API's JSON comes from something in between (a proxy, a
    load balancer's error page, a captive portal), even with a 200: that is transient.
    Only a 4xx other than 408/429 says the request itself is wrong for whoever answered.
    """
    if status == 429:
        return Outcome.THROTTLED
    if 400 <= status < 500 and status != 408:
        return Outcome.REJECTED
    return Outcome.RETRYABLE


def _classify(status: int, code: str | None) -> Outcome:
    """Classify an error answer (a non-2xx status is never OK, whatever its code)."""
    outcome = classify_aliyun(status, code)
    return Outcome.REJECTED if outcome is Outcome.OK else outcome


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _is_nonzero(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        return int(str(value).strip()) != 0
    except ValueError:
        return False
