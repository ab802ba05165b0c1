"""ArtcClient (cloud transcode, WHIP ingest URLs) against the fake Live OpenAPI's ARTC side."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import structlog.testing

from handlers.artc_client import (
    ARTC_CODES,
    ArtcClient,
    TranscodeJob,
    TranscodeOutput,
    TranscodeStatus,
    TranscodeTemplate,
    classify_artc,
)
from handlers.outcome import Outcome, ProviderError
from handlers.provider_answers import Answer, TranscodeOutputEcho
from receiver.metrics import REGISTRY
from tests.fakes import ErrorFault
from tests.fakes.artc import FakeArtc

pytestmark = pytest.mark.anyio

APP = "fake-artc-app"
TOKEN = "eyJhcHBpZCI6ImZha2UiLCJzZWNyZXQtdG9rZW4ifQ"


def job(max_idle: int = 60, **kwargs: Any) -> TranscodeJob:
    outputs = (TranscodeOutput("relay7_lhd", TOKEN, TranscodeTemplate.LHD),)
    return TranscodeJob(APP, "chan-1", "source-cam", outputs, max_idle, **kwargs)


def client_for(fake: FakeArtc, **kwargs: Any) -> ArtcClient:
    assert fake.base_url is not None
    return ArtcClient(fake.base_url, fake.access_key_id, fake.access_key_secret, **kwargs)


async def expect_error(call: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call
    return caught.value


async def test_transcode_lifecycle(artc_fake: FakeArtc) -> None:
    artc_fake.join(APP, "chan-1", "source-cam")
    async with client_for(artc_fake) as client:
        task_id = await client.start_transcode(job())
        info = await client.describe_transcode(APP, task_id)
        assert info.Status is TranscodeStatus.RUNNING
        assert info.OutputParams == [
            TranscodeOutputEcho(ChannelId="chan-1", UserId="relay7_lhd", TranscodeTemplate="lhd")
        ]
        await client.stop_transcode(APP, task_id)
        assert (await client.describe_transcode(APP, task_id)).Status is (TranscodeStatus.STOPPED)
    call = artc_fake.calls_for("StartRtcCloudTranscode")[0]
    assert call.method == "POST"
    assert call.params["InputParam"] == (
        '{"SingleSubUserParam":{"UserId":"source-cam","StreamType":0,"SourceType":0}}'
    )
    assert call.params["OutputParams"] == (
        f'[{{"ChannelId":"chan-1","UserId":"relay7_lhd","UserToken":"{TOKEN}",'
        '"TranscodeTemplate":"lhd"}]'
    )
    assert call.params["MaxIdleTime"] == "60"


async def test_lost_start_answer_retry_is_safe(artc_fake: FakeArtc) -> None:
    """A retried start replaces the orphan's output, and the orphan idles out by itself."""
    now = [time.time()]
    artc_fake.wall_clock = lambda: now[0]
    try:
        artc_fake.join(APP, "chan-1", "source-cam")
        artc_fake.inject("StartRtcCloudTranscode", "acted_but_lost")
        async with client_for(artc_fake, clock=lambda: now[0]) as client:
            lost = await expect_error(client.start_transcode(job(max_idle=30)))
            assert lost.outcome is Outcome.RETRYABLE
            task_id = await client.start_transcode(job(max_idle=30))
            orphan = next(j.task_id for j in artc_fake.jobs if j.task_id != task_id)
            # Exactly one job publishes the output UserId: the one whose TaskId we hold.
            assert artc_fake.publishers(APP, "chan-1", "relay7_lhd") == [task_id]
            await client.stop_transcode(APP, task_id)
            artc_fake.leave(APP, "chan-1", "source-cam")  # the relay ended
            assert artc_fake.status(orphan) == "RECOVERING"
            now[0] += 31
            assert artc_fake.status(orphan) == "STOPPED"
    finally:
        artc_fake.wall_clock = time.time


async def test_whip_address(artc_fake: FakeArtc) -> None:
    issued_at = int(time.time())
    async with client_for(artc_fake, clock=lambda: issued_at) as client:
        whip = await client.create_whip_address(APP, "chan-1", "obs-backup-1", "Backup OBS")
        custom = await client.create_whip_address(
            APP, "chan-1", "obs-backup-2", "Backup", expire_time=600
        )
    issued = artc_fake.whip_addresses
    assert whip.address == issued[0]["WhipAddress"] and whip.address.startswith("https://")
    assert whip.expires_at == issued_at + 43_200
    assert issued[0]["ExpireTime"] == 43_200 and issued[1]["ExpireTime"] == 600
    assert custom.expires_at == issued_at + 600
    assert whip.address not in repr(whip)
    assert TOKEN not in repr(job())


async def test_whip_budget_of_40_per_second(artc_fake: FakeArtc) -> None:
    async with client_for(artc_fake) as client:
        addresses = await asyncio.gather(
            *(client.create_whip_address(APP, "chan-1", f"u{i}", "OBS") for i in range(50))
        )
        # The transcode budget is separate: a Describe is not held up behind WHIP calls.
        assert client.limiter is not client.whip_limiter
    assert len({a.address for a in addresses}) == 50
    assert artc_fake.max_calls_per_window("CreateRTCWhipStreamAddress") <= 40


async def test_fake_throttles_whip_beyond_40(artc_fake: FakeArtc) -> None:
    async with client_for(artc_fake, whip_qps=100) as client:
        results = await asyncio.gather(
            *(client.create_whip_address(APP, "chan-1", f"u{i}", "OBS") for i in range(45)),
            return_exceptions=True,
        )
    errors = [r for r in results if isinstance(r, ProviderError)]
    assert errors and {(e.outcome, e.code) for e in errors} == {
        (Outcome.THROTTLED, "TooManyRequests")
    }


@pytest.mark.parametrize(("code", "outcome"), sorted(ARTC_CODES.items()))
async def test_documented_codes_are_classified(
    artc_fake: FakeArtc, code: str, outcome: Outcome
) -> None:
    status = 500 if outcome is Outcome.RETRYABLE else 429 if code == "TooManyRequests" else 400
    artc_fake.inject("StartRtcCloudTranscode", ErrorFault(status, code, f"fault {TOKEN} here"))
    before = REGISTRY.get_sample_value(
        "relaywarden_provider_requests_total",
        {"provider": "aliyun", "api": "StartRtcCloudTranscode", "result": outcome.value},
    )
    async with client_for(artc_fake) as client:
        error = await expect_error(client.start_transcode(job()))
    assert (error.outcome, error.code) == (outcome, code)
    assert TOKEN not in str(error)  # the UserToken is a secret
    after = REGISTRY.get_sample_value(
        "relaywarden_provider_requests_total",
        {"provider": "aliyun", "api": "StartRtcCloudTranscode", "result": outcome.value},
    )
    assert after == (before or 0.0) + 1


async def test_fake_answers_documented_codes(artc_fake: FakeArtc) -> None:
    async with client_for(artc_fake) as client:
        unknown_app = await expect_error(client.stop_transcode("other-app", "t1"))
        unknown_task = await expect_error(client.describe_transcode(APP, "no-such-task"))
        missing = await expect_error(client.call("StartRtcCloudTranscode", {"AppId": APP}, Answer))
    assert (unknown_app.outcome, unknown_app.code) == (Outcome.REJECTED, "ResourceNotExist")
    assert (unknown_task.outcome, unknown_task.code) == (Outcome.REJECTED, "NotFound")
    assert (missing.outcome, missing.code) == (Outcome.REJECTED, "MissingParameter")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_idle_time": 9},
        {"max_idle_time": 14_401},
        {"source_user_id": "relay7_lhd"},
        {"outputs": ()},
        {"channel_id": "bad channel"},
        {"app_id": "x" * 65},
    ],
)
def test_invalid_jobs_are_refused(kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "app_id": APP,
        "channel_id": "chan-1",
        "source_user_id": "cam",
        "outputs": (TranscodeOutput("relay7_lhd", TOKEN, TranscodeTemplate.LHD),),
    }
    with pytest.raises(ValueError):
        TranscodeJob(**{**base, **kwargs})


def test_invalid_outputs_are_refused() -> None:
    with pytest.raises(ValueError):
        TranscodeOutput("u", TOKEN, "ultra")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TranscodeOutput("u", "", TranscodeTemplate.LSD)
    assert TranscodeOutput("u", TOKEN, "lud").template is TranscodeTemplate.LUD  # type: ignore[arg-type]


async def test_whip_input_is_checked_before_the_network(artc_fake: FakeArtc) -> None:
    async with client_for(artc_fake) as client:
        for kwargs in ({"expire_time": 0}, {"user_id": "has space"}, {"display_name": ""}):
            args: dict[str, Any] = {"user_id": "u1", "display_name": "OBS", **kwargs}
            with pytest.raises(ValueError):
                await client.create_whip_address(APP, "chan-1", **args)
    assert artc_fake.calls == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"RequestId": "r"}, "InvalidResponse"),
        ({"RequestId": "r", "WhipAddress": "http://plain.example/whip"}, "InvalidResponse"),
    ],
)
async def test_odd_whip_answers(body: dict[str, Any], code: str) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=body))
    async with ArtcClient("https://live.example", "ak", "sk", transport=transport) as client:
        error = await expect_error(client.create_whip_address(APP, "c", "u", "OBS"))
    assert (error.outcome, error.code) == (Outcome.REJECTED, code)


def test_classify_artc_falls_back() -> None:
    assert classify_artc("TooManyRequests", Outcome.REJECTED) is Outcome.THROTTLED
    assert classify_artc("InvalidParameter.AppId", Outcome.RETRYABLE) is Outcome.REJECTED
    assert classify_artc("Throttling.User", Outcome.THROTTLED) is Outcome.THROTTLED


async def test_secrets_never_reach_the_logs(artc_fake: FakeArtc) -> None:
    artc_fake.inject(
        "StartRtcCloudTranscode", ErrorFault(400, "InvalidParameter", f"bad UserToken {TOKEN}")
    )
    with structlog.testing.capture_logs() as logs:
        async with client_for(artc_fake) as client:
            await expect_error(client.start_transcode(job()))
            whip = await client.create_whip_address(APP, "chan-1", "obs-9", "OBS")
    assert [e["api"] for e in logs if e.get("event") == "provider_call"] == [
        "StartRtcCloudTranscode",
        "CreateRTCWhipStreamAddress",
    ]
    text = repr(logs)
    assert TOKEN not in text and whip.address not in text
    assert artc_fake.access_key_secret not in text
