"""Client of the Tencent TRTC stream-ingest operations.

API 3.0 style: ``POST /`` with a JSON body, ``X-TC-Action``/``X-TC-Version``/``X-TC-Region``
headers, signed with ``TC3-HMAC-SHA256``. Errors arrive with HTTP 200 in
``Response.Error``; a non-200 status is a gateway problem and retryable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, Unpack

import httpx

from handlers.outcome import TRTC_RESIGN_CODES, Outcome, classify_trtc, sanitize
from handlers.provider_answers import Answer, IngestStatus, TaskCreated, TrtcEnvelope, TrtcHead
from handlers.provider_http import (
    HttpOptions,
    ProviderHttpClient,
    read_json,
)
from handlers.tc3_signing import Tc3Auth

__all__ = [
    "DEFAULT_TRTC_ENDPOINT",
    "DEFAULT_TRTC_REGION",
    "TRTC_SERVICE",
    "TRTC_VERSION",
    "TrtcClient",
]

DEFAULT_TRTC_ENDPOINT = "https://trtc.tencentcloudapi.com"
DEFAULT_TRTC_REGION = "ap-singapore"
TRTC_SERVICE = "trtc"
TRTC_VERSION = "2019-07-22"
_CONTENT_TYPE = "application/json"
#: Request parameters that are credentials in their own right: never shown anywhere.
_SECRET_PARAMS = ("UserSig", "PrivateMapKey")
_MISSING_CREDENTIALS = (
    "Tencent Cloud credentials are not configured: set RELAYWARDEN_TENCENT_SECRET_ID "
    "and RELAYWARDEN_TENCENT_SECRET_KEY"
)

T = TypeVar("T")


class TrtcClient(ProviderHttpClient):
    """TRTC stream-ingest operations, rate limited (``qps`` calls in any second).

    Every method returns the ``Response`` object of a successful answer as a Struct of
    ``handlers.provider_answers`` or raises :class:`~handlers.outcome.ProviderError`; an
    ``AuthFailure.SignatureExpire`` is signed anew and re-sent once.
    """

    provider = "trtc"
    resign_codes = TRTC_RESIGN_CODES
    missing_credentials = _MISSING_CREDENTIALS

    def __init__(
        self,
        endpoint: str = DEFAULT_TRTC_ENDPOINT,
        secret_id: str | None = None,
        secret_key: str | None = None,
        *,
        region: str = DEFAULT_TRTC_REGION,
        qps: int = 20,
        clock: Callable[[], float] = time.time,
        **options: Unpack[HttpOptions],
    ) -> None:
        auth = None
        if secret_id and secret_key:
            auth = Tc3Auth(secret_id, secret_key, TRTC_SERVICE, clock=clock)
        super().__init__(endpoint, auth, qps=qps, secrets=(secret_key,), **options)
        self.region = region

    async def call(self, action: str, params: Mapping[str, Any], answer: type[T]) -> T:
        """Call any TRTC ``2019-07-22`` action with a JSON body of ``params``; its
        ``Response`` is decoded as ``answer``."""
        body = json.dumps(dict(params), separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": _CONTENT_TYPE,
            "X-TC-Action": action,
            "X-TC-Version": TRTC_VERSION,
            "X-TC-Region": self.region,
        }
        hidden = [value for key in _SECRET_PARAMS if isinstance(value := params.get(key), str)]

        def build() -> httpx.Request:
            return self._build("POST", headers=headers, content=body)

        return await self._send(action, build, answer, secrets=hidden)

    async def start_stream_ingest(self, params: Mapping[str, Any]) -> TaskCreated:
        """StartStreamIngest with the provider's parameter names; the answer has ``TaskId``.

        Not idempotent: a retried start may start a second ingest or fail with
        ``FailedOperation.TaskExist``.
        """
        return await self.call("StartStreamIngest", params, TaskCreated)

    async def stop_stream_ingest(self, sdk_app_id: int, task_id: str) -> Answer:
        """StopStreamIngest; an ended task raises REJECTED ``FailedOperation.TaskFinished``."""
        params = {"SdkAppId": sdk_app_id, "TaskId": task_id}
        return await self.call("StopStreamIngest", params, Answer)

    async def describe_stream_ingest(self, sdk_app_id: int, task_id: str) -> IngestStatus:
        """DescribeStreamIngest: ``Status`` is ``InProgress`` or ``NotExist``."""
        params = {"SdkAppId": sdk_app_id, "TaskId": task_id}
        return await self.call("DescribeStreamIngest", params, IngestStatus)

    async def update_stream_ingest(
        self, sdk_app_id: int, task_id: str, **fields: Any
    ) -> IngestStatus:
        """UpdateStreamIngest; ``fields`` use the provider's names (``StreamUrl=…``)."""
        params = {"SdkAppId": sdk_app_id, "TaskId": task_id, **fields}
        return await self.call("UpdateStreamIngest", params, IngestStatus)

    def _interpret(
        self, api: str, response: httpx.Response, secrets: tuple[str, ...], answer: type[T]
    ) -> T:
        status = response.status_code
        if status != 200:
            raise self._error(
                api,
                Outcome.RETRYABLE,
                f"HTTP{status}",
                f"HTTP {status} from the API gateway",
                http_status=status,
            )
        envelope = read_json(response.content, TrtcEnvelope)
        body = bytes(envelope.Response) if envelope is not None else b""
        head = read_json(body, TrtcHead)
        if head is None:
            # Not the API's JSON though the gateway said 200: a proxy's page, a truncated
            # answer. Transient like the non-200 statuses above.
            raise self._error(
                api,
                Outcome.RETRYABLE,
                "InvalidResponse",
                "HTTP 200 answer without a JSON Response object",
                http_status=status,
            )
        error = head.Error
        if error is None:
            return self._decode(api, body, answer)
        code_text = str(error.Code) if error.Code else "UnknownError"
        raise self._error(
            api,
            classify_trtc(code_text),
            code_text,
            sanitize(str(error.Message or ""), secrets),
            request_id=str(head.RequestId) if head.RequestId is not None else None,
            http_status=status,
        )
