"""AliyunLiveClient against the fake Live OpenAPI over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from handlers.aliyun_client import AliyunLiveClient, is_dst_url_conflict
from handlers.outcome import Outcome, ProviderError
from handlers.ratelimit import WindowRateLimiter
from receiver.metrics import REGISTRY
from tests.fakes import ErrorFault, FakeAliyunLive
from tests.fakes.aliyun_live import DST_URL_CONFLICT_CODE
from tests.support.servers import free_port

pytestmark = pytest.mark.anyio

REGION = "cn-shanghai"


def _utc(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def relay_params(dst: str = "rtmp://push.example.com/app/stream", **extra: Any) -> dict[str, Any]:
    return {
        "Region": REGION,
        "SourceType": "live",
        "SourceProtocol": "rtmp",
        "SourceUrls": ["rtmp://src.example.com/app/stream?a=1&b=two words"],
        "DstUrl": dst,
        "StartTime": _utc(timedelta(minutes=-1)),
        "EndTime": _utc(timedelta(hours=2)),
        "CallbackUrl": "https://relaywarden.example/callbacks/aliyun/pull-to-push?token=T0k3n",
        "RetryCount": 3,
        "RetryInterval": 60,
        **extra,
    }


def client_for(fake: FakeAliyunLive, **kwargs: Any) -> AliyunLiveClient:
    assert fake.base_url is not None
    return AliyunLiveClient(fake.base_url, fake.access_key_id, fake.access_key_secret, **kwargs)


async def expect_error(call: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call
    return caught.value


def requests_total(api: str, result: str) -> float:
    labels = {"provider": "aliyun", "api": api, "result": result}
    return REGISTRY.get_sample_value("relaywarden_provider_requests_total", labels) or 0.0


async def test_task_lifecycle(aliyun_fake: FakeAliyunLive) -> None:
    async with client_for(aliyun_fake) as client:
        created = await client.create_live_pull_to_push(relay_params())
        task_id = created.TaskId

        call = aliyun_fake.calls_for("CreateLivePullToPush")[0]
        assert call.method == "POST"
        # Arrays travel as one compact JSON string; everything is a query parameter.
        assert call.params["SourceUrls"] == (
            '["rtmp://src.example.com/app/stream?a=1&b=two words"]'
        )
        assert call.params["RetryCount"] == "3"
        assert call.headers["x-acs-action"] == "CreateLivePullToPush"
        assert call.headers["x-acs-version"] == "2016-11-01"

        described = await client.describe_live_pull_to_push(REGION, task_id)
        assert described.TaskStatus == 1
        info = described.info
        assert info["DstUrl"] == "rtmp://push.example.com/app/stream"
        assert str(info["CallbackURL"]).endswith("token=T0k3n")

        listed = await client.describe_live_pull_to_push_list(REGION, dst_url="push.example.com")
        assert listed.Total == 1
        assert listed.tasks[0].TaskId == task_id

        new_end = _utc(timedelta(hours=5))
        await client.update_live_pull_to_push(REGION, task_id, EndTime=new_end)
        assert aliyun_fake.task(task_id).info["EndTime"] == new_end

        await client.stop_live_pull_to_push(REGION, task_id)
        assert aliyun_fake.task(task_id).status == 3
        stopped_again = await expect_error(client.stop_live_pull_to_push(REGION, task_id))
        assert (stopped_again.code, stopped_again.outcome) == ("CodeTaskHasStopped", "rejected")

        await client.restart_live_pull_to_push(REGION, task_id)
        assert aliyun_fake.task(task_id).status == 1

        await client.delete_live_pull_to_push(REGION, task_id)
        gone = await expect_error(client.delete_live_pull_to_push(REGION, task_id))
        assert gone.code == "CodeTaskNotExist"
        assert gone.outcome is Outcome.REJECTED
        assert gone.http_status == 400
        assert gone.request_id
        assert str(gone).startswith("aliyun DeleteLivePullToPush rejected: CodeTaskNotExist: ")
        assert [c.outcome for c in aliyun_fake.calls][-1] == "CodeTaskNotExist"


async def test_lost_create_answer_is_found_again_by_dst_url(aliyun_fake: FakeAliyunLive) -> None:
    """The idempotency path of the design: a Create whose answer was lost is adopted."""
    aliyun_fake.inject("CreateLivePullToPush", "acted_but_lost")
    async with client_for(aliyun_fake) as client:
        lost = await expect_error(client.create_live_pull_to_push(relay_params()))
        assert (lost.outcome, lost.code) == (Outcome.RETRYABLE, "InternalError")
        assert aliyun_fake.calls[0].acted

        conflict = await expect_error(client.create_live_pull_to_push(relay_params()))
        assert conflict.code == DST_URL_CONFLICT_CODE
        assert conflict.outcome is Outcome.REJECTED
        assert is_dst_url_conflict(conflict)

        found = await client.describe_live_pull_to_push_list(
            REGION, dst_url="rtmp://push.example.com/app/stream"
        )
        assert [t.TaskId for t in found.tasks] == [aliyun_fake.tasks[0].task_id]


async def test_timeout_is_retryable(aliyun_fake: FakeAliyunLive) -> None:
    aliyun_fake.inject("CreateLivePullToPush", "acted_but_timeout")
    aliyun_fake.inject("DescribeLivePullToPush", "timeout")
    async with client_for(aliyun_fake, timeout=httpx.Timeout(0.3)) as client:
        started = time.monotonic()
        error = await expect_error(client.describe_live_pull_to_push(REGION, "nope"))
        assert time.monotonic() - started < 2
        assert (error.outcome, error.code) == (Outcome.RETRYABLE, "Timeout")

        error = await expect_error(client.create_live_pull_to_push(relay_params()))
        assert (error.outcome, error.code) == (Outcome.RETRYABLE, "Timeout")
        assert len(aliyun_fake.tasks) == 1  # the provider did act


@pytest.mark.parametrize(
    ("fault", "outcome", "code"),
    [
        ("throttle", Outcome.THROTTLED, "Throttling.User"),
        ("5xx", Outcome.RETRYABLE, "InternalError"),
        (
            ErrorFault(503, "ServiceUnavailable", "try later"),
            Outcome.RETRYABLE,
            "ServiceUnavailable",
        ),
        ("bad_gateway", Outcome.RETRYABLE, "InvalidResponse"),
        (
            ErrorFault(400, "InvalidParameter", "DstUrl is bad"),
            Outcome.REJECTED,
            "InvalidParameter",
        ),
        (ErrorFault(500, "NewUnknownCode", "?"), Outcome.RETRYABLE, "NewUnknownCode"),
    ],
)
async def test_injected_faults_are_classified(
    aliyun_fake: FakeAliyunLive, fault: Any, outcome: Outcome, code: str
) -> None:
    aliyun_fake.inject("DescribeLivePullToPush", fault)
    before = requests_total("DescribeLivePullToPush", outcome.value)
    async with client_for(aliyun_fake) as client:
        error = await expect_error(client.describe_live_pull_to_push(REGION, "x"))
    assert (error.outcome, error.code) == (outcome, code)
    assert error.provider == "aliyun"
    assert requests_total("DescribeLivePullToPush", outcome.value) == before + 1


async def test_retry_after_header_is_honoured(aliyun_fake: FakeAliyunLive) -> None:
    aliyun_fake.inject(
        "StopLivePullToPush",
        ErrorFault(400, "Throttling.Api", "slow down", headers={"x-acs-retry-after": "2.5"}),
    )
    async with client_for(aliyun_fake) as client:
        error = await expect_error(client.stop_live_pull_to_push(REGION, "x"))
    assert error.outcome is Outcome.THROTTLED
    assert error.retry_after == 2.5


async def test_fake_throttles_beyond_10_per_second(aliyun_fake: FakeAliyunLive) -> None:
    # A client whose own limit is too generous meets the provider's limit.
    async with client_for(aliyun_fake, limiter=WindowRateLimiter(100)) as client:
        results = await asyncio.gather(
            *(client.describe_live_pull_to_push_list(REGION) for _ in range(13)),
            return_exceptions=True,
        )
    errors = [r for r in results if isinstance(r, ProviderError)]
    assert len(errors) == 3
    assert {(e.outcome, e.code) for e in errors} == {(Outcome.THROTTLED, "Throttling.User")}


async def test_thirty_calls_never_exceed_ten_per_second_as_the_provider_sees_it(
    aliyun_fake: FakeAliyunLive,
) -> None:
    before = requests_total("DescribeLivePullToPushList", "ok")
    timed = {"provider": "aliyun", "api": "DescribeLivePullToPushList"}
    count = "relaywarden_provider_request_duration_seconds_count"
    timed_before = REGISTRY.get_sample_value(count, timed) or 0.0
    async with client_for(aliyun_fake) as client:
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.describe_live_pull_to_push_list(REGION) for _ in range(30))
        )
        elapsed = time.monotonic() - started
    assert len(results) == 30
    assert {call.outcome for call in aliyun_fake.calls} == {"ok"}
    assert len(aliyun_fake.calls) == 30
    assert aliyun_fake.max_calls_per_window() <= 10
    assert elapsed >= 2.0
    assert requests_total("DescribeLivePullToPushList", "ok") == before + 30
    assert REGISTRY.get_sample_value(count, timed) == timed_before + 30


async def test_missing_credentials_fail_without_network(aliyun_fake: FakeAliyunLive) -> None:
    assert aliyun_fake.base_url is not None
    async with AliyunLiveClient(aliyun_fake.base_url, "only-the-id", None) as client:
        assert not client.has_credentials
        error = await expect_error(client.create_live_pull_to_push(relay_params()))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "MissingCredentials")
    assert "RELAYWARDEN_ALIYUN_ACCESS_KEY_ID" in error.message
    assert "RELAYWARDEN_ALIYUN_ACCESS_KEY_SECRET" in error.message
    assert aliyun_fake.calls == []


async def test_wrong_secret_is_rejected_without_leaking_signing_details(
    aliyun_fake: FakeAliyunLive,
) -> None:
    assert aliyun_fake.base_url is not None
    wrong = "wrong-secret-value"
    async with AliyunLiveClient(aliyun_fake.base_url, aliyun_fake.access_key_id, wrong) as client:
        error = await expect_error(client.describe_live_pull_to_push(REGION, "x"))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "SignatureDoesNotMatch")
    text = str(error) + repr(error)
    assert "ACS3-HMAC-SHA256" not in text
    assert wrong not in text
    assert "Specified signature does not match our calculation." in text


async def test_unknown_access_key(aliyun_fake: FakeAliyunLive) -> None:
    assert aliyun_fake.base_url is not None
    async with AliyunLiveClient(aliyun_fake.base_url, "someone-else", "s") as client:
        error = await expect_error(client.describe_live_pull_to_push(REGION, "x"))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "InvalidAccessKeyId.NotFound")


async def test_reused_nonce_is_signed_again_once(aliyun_fake: FakeAliyunLive) -> None:
    nonces = iter(["nonce-1", "nonce-1", "nonce-2"])
    async with client_for(aliyun_fake, nonce_factory=lambda: next(nonces)) as client:
        await client.describe_live_pull_to_push_list(REGION)
        await client.describe_live_pull_to_push_list(REGION)
    assert [c.outcome for c in aliyun_fake.calls] == ["ok", "SignatureNonceUsed", "ok"]
    assert [c.headers["x-acs-signature-nonce"] for c in aliyun_fake.calls] == [
        "nonce-1",
        "nonce-1",
        "nonce-2",
    ]


async def test_skewed_clock_fails_after_one_fresh_signature(aliyun_fake: FakeAliyunLive) -> None:
    async with client_for(aliyun_fake, clock=lambda: time.time() - 3600) as client:
        error = await expect_error(client.describe_live_pull_to_push(REGION, "x"))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "InvalidTimeStamp.Expired")
    assert "check the system clock" in error.message
    assert [c.outcome for c in aliyun_fake.calls] == ["InvalidTimeStamp.Expired"] * 2


async def test_connection_refused_is_retryable() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    async with AliyunLiveClient(endpoint, "id", "secret") as client:
        error = await expect_error(client.describe_live_pull_to_push(REGION, "x"))
    assert (error.outcome, error.code) == (Outcome.RETRYABLE, "ConnectionError")


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> AliyunLiveClient:
    return AliyunLiveClient(
        "https://live.aliyuncs.com", "id", "secret", transport=httpx.MockTransport(handler)
    )


@pytest.mark.parametrize(
    ("response", "outcome", "code"),
    [
        (httpx.Response(403, text="Forbidden"), Outcome.REJECTED, "InvalidResponse"),
        (httpx.Response(503, text="busy"), Outcome.RETRYABLE, "InvalidResponse"),
        (httpx.Response(200, text="<html/>"), Outcome.RETRYABLE, "InvalidResponse"),
        (
            httpx.Response(200, json={"RetCode": 7, "Description": "no"}),
            Outcome.REJECTED,
            "RetCode7",
        ),
        (httpx.Response(429, json={"RequestId": "r"}), Outcome.THROTTLED, "HTTP429"),
    ],
)
async def test_odd_answers(response: httpx.Response, outcome: Outcome, code: str) -> None:
    async with _mock(lambda request: response) as client:
        error = await expect_error(client.describe_live_pull_to_push(REGION, "x"))
    assert (error.outcome, error.code) == (outcome, code)


async def test_every_call_has_explicit_timeouts_and_a_signed_canonical_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"RequestId": "r", "RetCode": 0})

    async with _mock(handler) as client:
        await client.update_live_pull_to_push(
            REGION, "t-1", SourceUrls=["rtmp://a/b c", "rtmp://d/e"], Offset=None, RepeatNumber=2
        )
    request = seen[0]
    assert request.extensions["timeout"] == {
        "connect": 5.0,
        "read": 10.0,
        "write": 10.0,
        "pool": 10.0,
    }
    assert request.url.query.decode() == (
        "Region=cn-shanghai&RepeatNumber=2&"
        "SourceUrls=%5B%22rtmp%3A%2F%2Fa%2Fb%20c%22%2C%22rtmp%3A%2F%2Fd%2Fe%22%5D&TaskId=t-1"
    )
    assert json.loads(request.url.params["SourceUrls"]) == ["rtmp://a/b c", "rtmp://d/e"]
    assert request.headers["authorization"].startswith("ACS3-HMAC-SHA256 Credential=id,")
    assert "secret" not in str(request.headers)


async def test_one_connection_pool_is_reused(aliyun_fake: FakeAliyunLive) -> None:
    async with client_for(aliyun_fake) as client:
        for _ in range(3):
            await client.describe_live_pull_to_push_list(REGION)
    assert len({call.peer for call in aliyun_fake.calls}) == 1  # one kept-alive connection
