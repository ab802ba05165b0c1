"""TrtcClient against the fake TRTC API over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from handlers.outcome import Outcome, ProviderError
from handlers.provider_answers import TaskCreated
from handlers.ratelimit import WindowRateLimiter
from handlers.trtc_client import TrtcClient
from receiver.metrics import REGISTRY
from tests.fakes import ErrorFault, FakeTrtc
from tests.support.servers import free_port

pytestmark = pytest.mark.anyio

APP = 1400000000
USER_SIG = "eJw1jcEKgjAYgO9SxSECRETSsecretUserSig0000"


def ingest_params(**extra: Any) -> dict[str, Any]:
    return {
        "SdkAppId": APP,
        "RoomId": "room-1",
        "RoomIdType": 0,
        "UserId": "relay-bot",
        "UserSig": USER_SIG,
        "StreamUrl": "https://play.example.com/app/stream.flv",
        **extra,
    }


def client_for(fake: FakeTrtc, **kwargs: Any) -> TrtcClient:
    assert fake.base_url is not None
    return TrtcClient(fake.base_url, fake.secret_id, fake.secret_key, **kwargs)


async def expect_error(call: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call
    return caught.value


async def test_ingest_lifecycle_with_opaque_task_ids(trtc_fake: FakeTrtc) -> None:
    async with client_for(trtc_fake) as client:
        started = await client.start_stream_ingest(ingest_params())
        task_id = started.TaskId
        assert {"+", "/", "-", "."} <= set(task_id)  # stored and sent verbatim

        call = trtc_fake.calls[0]
        assert call.method == "POST"
        assert call.headers["content-type"] == "application/json"
        assert call.headers["x-tc-action"] == "StartStreamIngest"
        assert call.headers["x-tc-version"] == "2019-07-22"
        assert call.headers["x-tc-region"] == "ap-singapore"
        assert call.headers["host"] == trtc_fake.base_url.removeprefix("http://")  # type: ignore[union-attr]
        assert call.params["SdkAppId"] == APP  # an integer in the JSON body

        described = await client.describe_stream_ingest(APP, task_id)
        assert described.Status == "InProgress"

        updated = await client.update_stream_ingest(APP, task_id, Volume=50)
        assert updated.Status == "InProgress"
        assert trtc_fake.task(task_id).params["Volume"] == 50

        await client.stop_stream_ingest(APP, task_id)
        assert (await client.describe_stream_ingest(APP, task_id)).Status == "NotExist"

        again = await expect_error(client.stop_stream_ingest(APP, task_id))
        assert (again.outcome, again.code) == (Outcome.REJECTED, "FailedOperation.TaskFinished")
        assert again.http_status == 200
        assert again.request_id
        assert str(again).startswith("trtc StopStreamIngest rejected: FailedOperation.TaskFinished")


async def test_provider_side_end_shows_in_describe(trtc_fake: FakeTrtc) -> None:
    task_id = trtc_fake.add_task(ingest_params())
    trtc_fake.finish_task(task_id)
    async with client_for(trtc_fake) as client:
        assert (await client.describe_stream_ingest(APP, task_id)).Status == "NotExist"


@pytest.mark.parametrize(
    ("fault", "outcome", "code"),
    [
        ("throttle", Outcome.THROTTLED, "RequestLimitExceeded"),
        ("5xx", Outcome.RETRYABLE, "HTTP502"),
        (ErrorFault(200, "InternalError", "oops"), Outcome.RETRYABLE, "InternalError"),
        (ErrorFault(200, "ResourceInsufficient"), Outcome.RETRYABLE, "ResourceInsufficient"),
        (
            ErrorFault(200, "OperationDenied.FreqOverLimit"),
            Outcome.THROTTLED,
            "OperationDenied.FreqOverLimit",
        ),
        (ErrorFault(200, "InvalidParameter.RoomId"), Outcome.REJECTED, "InvalidParameter.RoomId"),
        (
            ErrorFault(200, "AuthFailure.UnauthorizedOperation"),
            Outcome.REJECTED,
            "AuthFailure.UnauthorizedOperation",
        ),
    ],
)
async def test_errors_come_with_http_200_and_are_classified(
    trtc_fake: FakeTrtc, fault: Any, outcome: Outcome, code: str
) -> None:
    trtc_fake.inject("DescribeStreamIngest", fault)
    labels = {"provider": "trtc", "api": "DescribeStreamIngest", "result": outcome.value}
    before = REGISTRY.get_sample_value("relaywarden_provider_requests_total", labels) or 0.0
    async with client_for(trtc_fake) as client:
        error = await expect_error(client.describe_stream_ingest(APP, "t"))
    assert (error.outcome, error.code) == (outcome, code)
    assert REGISTRY.get_sample_value("relaywarden_provider_requests_total", labels) == before + 1


async def test_timeout_and_lost_start(trtc_fake: FakeTrtc) -> None:
    trtc_fake.inject("StartStreamIngest", "acted_but_timeout", "acted_but_lost")
    async with client_for(trtc_fake, timeout=httpx.Timeout(0.3)) as client:
        error = await expect_error(client.start_stream_ingest(ingest_params()))
        assert (error.outcome, error.code) == (Outcome.RETRYABLE, "Timeout")
        assert len(trtc_fake.tasks) == 1
        # Not idempotent: the robot user is already in the room.
        error = await expect_error(client.start_stream_ingest(ingest_params()))
        assert (error.outcome, error.code) == (Outcome.REJECTED, "FailedOperation.TaskExist")


async def test_secrets_never_appear_in_errors(trtc_fake: FakeTrtc) -> None:
    trtc_fake.inject(
        "StartStreamIngest",
        ErrorFault(200, "InvalidParameter.UserSig", f"UserSig {USER_SIG} is expired"),
    )
    async with client_for(trtc_fake) as client:
        error = await expect_error(client.start_stream_ingest(ingest_params()))
    assert error.code == "InvalidParameter.UserSig"
    assert USER_SIG not in str(error) + repr(error) + error.message
    assert trtc_fake.secret_key not in str(error)


async def test_wrong_key_is_rejected(trtc_fake: FakeTrtc) -> None:
    assert trtc_fake.base_url is not None
    async with TrtcClient(trtc_fake.base_url, trtc_fake.secret_id, "not-the-key") as client:
        error = await expect_error(client.describe_stream_ingest(APP, "t"))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "AuthFailure.SignatureFailure")


async def test_expired_signature_is_signed_again_only_once(trtc_fake: FakeTrtc) -> None:
    async with client_for(trtc_fake, clock=lambda: time.time() - 3600) as client:
        error = await expect_error(client.describe_stream_ingest(APP, "t"))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "AuthFailure.SignatureExpire")
    assert "check the system clock" in error.message
    assert [c.outcome for c in trtc_fake.calls] == ["AuthFailure.SignatureExpire"] * 2


async def test_expired_signature_then_success(trtc_fake: FakeTrtc) -> None:
    stamps = iter([time.time() - 3600, time.time()])
    async with client_for(trtc_fake, clock=lambda: next(stamps)) as client:
        answer = await client.describe_stream_ingest(APP, "t")
    assert answer.Status == "NotExist"
    assert [c.outcome for c in trtc_fake.calls] == ["AuthFailure.SignatureExpire", "ok"]


async def test_missing_credentials_fail_without_network(trtc_fake: FakeTrtc) -> None:
    assert trtc_fake.base_url is not None
    async with TrtcClient(trtc_fake.base_url, None, "key") as client:
        error = await expect_error(client.start_stream_ingest(ingest_params()))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "MissingCredentials")
    assert "RELAYWARDEN_TENCENT_SECRET_ID" in error.message
    assert "RELAYWARDEN_TENCENT_SECRET_KEY" in error.message
    assert trtc_fake.calls == []


async def test_fake_limits_each_api_to_20_per_second(trtc_fake: FakeTrtc) -> None:
    async with client_for(trtc_fake, limiter=WindowRateLimiter(100)) as client:
        results = await asyncio.gather(
            *(client.describe_stream_ingest(APP, "t") for _ in range(22)),
            return_exceptions=True,
        )
    throttled = [r for r in results if isinstance(r, ProviderError)]
    assert [e.code for e in throttled] == ["RequestLimitExceeded"] * 2
    assert all(e.outcome is Outcome.THROTTLED for e in throttled)


async def test_client_stays_within_20_per_second(trtc_fake: FakeTrtc) -> None:
    async with client_for(trtc_fake) as client:
        await asyncio.gather(*(client.describe_stream_ingest(APP, "t") for _ in range(25)))
    assert {c.outcome for c in trtc_fake.calls} == {"ok"}
    assert trtc_fake.max_calls_per_window() <= 20


async def test_connection_refused_is_retryable() -> None:
    async with TrtcClient(f"http://127.0.0.1:{free_port()}", "id", "key") as client:
        error = await expect_error(client.describe_stream_ingest(APP, "t"))
    assert (error.outcome, error.code) == (Outcome.RETRYABLE, "ConnectionError")


@pytest.mark.parametrize(
    ("response", "outcome", "code"),
    [
        (httpx.Response(200, text="not json"), Outcome.RETRYABLE, "InvalidResponse"),
        (httpx.Response(200, json={"NoResponse": {}}), Outcome.RETRYABLE, "InvalidResponse"),
        (httpx.Response(404, text="gone"), Outcome.RETRYABLE, "HTTP404"),
        (httpx.Response(200, json={"Response": {"Error": {}}}), Outcome.REJECTED, "UnknownError"),
    ],
)
async def test_odd_answers(response: httpx.Response, outcome: Outcome, code: str) -> None:
    transport = httpx.MockTransport(lambda request: response)
    async with TrtcClient("https://trtc.example", "id", "key", transport=transport) as client:
        error = await expect_error(client.stop_stream_ingest(APP, "t"))
    assert (error.outcome, error.code) == (outcome, code)


async def test_request_shape() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Response": {"RequestId": "r", "TaskId": "-a+b/c.."}})

    transport = httpx.MockTransport(handler)
    client = TrtcClient(
        "https://trtc.tencentcloudapi.com", "AKID", "key", region="ap-mumbai", transport=transport
    )
    async with client:
        answer = await client.start_stream_ingest(ingest_params())
    assert answer == TaskCreated(TaskId="-a+b/c..")
    request = seen[0]
    assert request.url == "https://trtc.tencentcloudapi.com/"
    assert request.headers["host"] == "trtc.tencentcloudapi.com"
    assert request.headers["x-tc-region"] == "ap-mumbai"
    assert json.loads(request.content) == ingest_params()
    assert request.extensions["timeout"]["connect"] == 5.0
    assert request.headers["authorization"].startswith("TC3-HMAC-SHA256 Credential=AKID/")
