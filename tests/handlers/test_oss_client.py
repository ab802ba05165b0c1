"""OssClient against the fake OSS over real loopback sockets (signatures checked by oss2)."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from handlers.oss_client import OssClient, classify_oss
from handlers.oss_livechannel import LiveChannelStatus, LiveChannelTarget
from handlers.oss_signing import mask_signed_url
from handlers.outcome import Outcome, ProviderError
from receiver.metrics import REGISTRY
from tests.fakes import ErrorFault
from tests.fakes.oss import FakeOss, oss2_v4_authorization

pytestmark = pytest.mark.anyio

BUCKET = "relay-records"


def client_for(fake: FakeOss, **kwargs: Any) -> OssClient:
    assert fake.base_url is not None
    kwargs.setdefault("region", fake.region)
    return OssClient(fake.access_key_id, fake.access_key_secret, endpoint=fake.base_url, **kwargs)


async def expect_error(call: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call
    return caught.value


def requests_total(api: str, result: str) -> float:
    labels = {"provider": "oss", "api": api, "result": result}
    return REGISTRY.get_sample_value("relaywarden_provider_requests_total", labels) or 0.0


async def test_channel_lifecycle(oss_fake: FakeOss) -> None:
    target = LiveChannelTarget(frag_duration=4, frag_count=6, playlist_name="index.m3u8")
    async with client_for(oss_fake) as client:
        urls = await client.put_live_channel(BUCKET, "relay 1", target)
        assert urls.publish_url == oss_fake.publish_url(BUCKET, "relay 1")
        assert urls.play_url.endswith("/relay 1/index.m3u8")
        channel = oss_fake.channel(BUCKET, "relay 1")
        assert channel.config == {
            "Description": "",
            "Status": "enabled",
            "FragDuration": "4",
            "FragCount": "6",
            "PlaylistName": "index.m3u8",
        }
        assert (await client.get_live_channel_stat(BUCKET, "relay 1")).status is (
            LiveChannelStatus.IDLE
        )
        oss_fake.start_push(BUCKET, "relay 1")
        live = await client.get_live_channel_stat(BUCKET, "relay 1")
        assert live.status is LiveChannelStatus.LIVE
        assert live.video["Codec"] == "H264"
        await client.put_live_channel_status(BUCKET, "relay 1", enabled=False)
        stat = await client.get_live_channel_stat(BUCKET, "relay 1")
        assert stat.status is LiveChannelStatus.DISABLED
        await client.put_live_channel_status(BUCKET, "relay 1", enabled=True)
        assert (await client.get_live_channel_stat(BUCKET, "relay 1")).status is (
            LiveChannelStatus.IDLE
        )
        await client.delete_live_channel(BUCKET, "relay 1")
        gone = await expect_error(client.get_live_channel_stat(BUCKET, "relay 1"))
    assert (gone.outcome, gone.code, gone.http_status) == (
        Outcome.REJECTED,
        "NoSuchLiveChannel",
        404,
    )
    assert "0026-00000021" in gone.message
    queries = [(c.action, c.method) for c in oss_fake.calls]
    assert queries[0] == ("PutLiveChannel", "PUT")
    assert ("PutLiveChannelStatus", "PUT") in queries and ("DeleteLiveChannel", "DELETE") in queries
    disable = oss_fake.calls_for("PutLiveChannelStatus")[0]
    assert disable.params["status"] == "disabled" and disable.params["live"] == ""


async def test_recreate_overwrites_and_signs_a_fresh_url(oss_fake: FakeOss) -> None:
    async with client_for(oss_fake) as client:
        first = await client.put_live_channel(BUCKET, "ch", LiveChannelTarget())
        await client.put_live_channel_status(BUCKET, "ch", enabled=False)
        second = await client.put_live_channel(BUCKET, "ch", LiveChannelTarget())
        assert oss_fake.channel(BUCKET, "ch").config["Status"] == "enabled"
        now = int(time.time())
        url_a = client.sign_publish_url(
            first.publish_url, bucket=BUCKET, channel="ch", expires_at=now + 3600
        )
        url_b = client.sign_publish_url(
            second.publish_url,
            bucket=BUCKET,
            channel="ch",
            expires_at=now + 7200,
            playlist_name="playlist.m3u8",
        )
    assert url_a != url_b
    assert f"Expires={now + 7200}" in url_b and "playlistName=playlist.m3u8" in url_b
    assert oss_fake.access_key_id in url_a
    assert mask_signed_url(url_a) == first.publish_url


async def test_unknown_bucket_is_rejected(oss_fake: FakeOss) -> None:
    async with client_for(oss_fake) as client:
        error = await expect_error(client.put_live_channel("no-such", "ch", LiveChannelTarget()))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "NoSuchBucket")
    assert error.request_id


@pytest.mark.parametrize(
    ("fault", "outcome", "code"),
    [
        ("throttle", Outcome.THROTTLED, "MetaOperationQpsLimitExceeded"),
        ("5xx", Outcome.RETRYABLE, "InternalError"),
        ("acted_but_lost", Outcome.RETRYABLE, "InternalError"),
        ("bad_gateway", Outcome.RETRYABLE, "HTTP502"),
        (ErrorFault(429, "QpsLimitExceeded"), Outcome.THROTTLED, "QpsLimitExceeded"),
        (ErrorFault(503, "TotalQpsLimitExceeded"), Outcome.THROTTLED, "TotalQpsLimitExceeded"),
        (ErrorFault(503, "ServiceUnavailable"), Outcome.RETRYABLE, "ServiceUnavailable"),
        (ErrorFault(400, "RequestTimeout"), Outcome.RETRYABLE, "RequestTimeout"),
        (ErrorFault(403, "AccessDenied"), Outcome.REJECTED, "AccessDenied"),
        (ErrorFault(400, "InvalidArgument"), Outcome.REJECTED, "InvalidArgument"),
        (ErrorFault(400, "MalformedXML"), Outcome.REJECTED, "MalformedXML"),
        (ErrorFault(503, "SomethingNew"), Outcome.RETRYABLE, "SomethingNew"),
        (ErrorFault(409, "SomethingElse"), Outcome.REJECTED, "SomethingElse"),
    ],
)
async def test_errors_are_classified_by_code(
    oss_fake: FakeOss, fault: str | ErrorFault, outcome: Outcome, code: str
) -> None:
    oss_fake.inject("PutLiveChannel", fault)
    before = requests_total("PutLiveChannel", outcome.value)
    async with client_for(oss_fake) as client:
        error = await expect_error(client.put_live_channel(BUCKET, "ch", LiveChannelTarget()))
    assert (error.outcome, error.code) == (outcome, code)
    assert requests_total("PutLiveChannel", outcome.value) == before + 1


async def test_a_lost_put_answer_is_safe_to_repeat(oss_fake: FakeOss) -> None:
    oss_fake.inject("PutLiveChannel", "acted_but_lost")
    async with client_for(oss_fake) as client:
        await expect_error(client.put_live_channel(BUCKET, "ch", LiveChannelTarget()))
        urls = await client.put_live_channel(BUCKET, "ch", LiveChannelTarget())
    assert urls.publish_url == oss_fake.publish_url(BUCKET, "ch")
    assert oss_fake.channel(BUCKET, "ch").config["Status"] == "enabled"


async def test_fake_throttles_beyond_its_qps(oss_fake: FakeOss) -> None:
    async with client_for(oss_fake, qps=100) as client:
        results = await asyncio.gather(
            *(client.get_live_channel_stat(BUCKET, "none") for _ in range(14)),
            return_exceptions=True,
        )
    codes = sorted({r.code for r in results if isinstance(r, ProviderError)})
    assert codes == ["MetaOperationQpsLimitExceeded", "NoSuchLiveChannel"]
    assert any(isinstance(r, ProviderError) and r.outcome is Outcome.THROTTLED for r in results)


async def test_client_keeps_within_the_budget(oss_fake: FakeOss) -> None:
    async with client_for(oss_fake, qps=10) as client:
        await client.put_live_channel(BUCKET, "ch", LiveChannelTarget())
        results = await asyncio.gather(
            *(client.get_live_channel_stat(BUCKET, "ch") for _ in range(14)),
            return_exceptions=True,
        )
    assert not [r for r in results if isinstance(r, BaseException)]
    assert oss_fake.max_calls_per_window() <= 10


async def test_wrong_secret_is_rejected_without_leaking_it(oss_fake: FakeOss) -> None:
    assert oss_fake.base_url is not None
    secret = "a-wrong-secret-value"
    async with OssClient(
        oss_fake.access_key_id, secret, region=oss_fake.region, endpoint=oss_fake.base_url
    ) as client:
        error = await expect_error(client.get_live_channel_stat(BUCKET, "ch"))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "SignatureDoesNotMatch")
    assert secret not in str(error)


async def test_unknown_key_and_wrong_region(oss_fake: FakeOss) -> None:
    assert oss_fake.base_url is not None
    async with OssClient("nobody", "x", region=oss_fake.region, endpoint=oss_fake.base_url) as c:
        error = await expect_error(c.get_live_channel_stat(BUCKET, "ch"))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "InvalidAccessKeyId")
    async with client_for(oss_fake, region="cn-beijing") as client:
        error = await expect_error(client.get_live_channel_stat(BUCKET, "ch"))
    assert error.code == "SignatureDoesNotMatch"


async def test_skewed_clock_is_signed_again_once_then_rejected(oss_fake: FakeOss) -> None:
    async with client_for(oss_fake, clock=lambda: time.time() - 3600) as client:
        error = await expect_error(client.get_live_channel_stat(BUCKET, "ch"))
    assert (error.outcome, error.code) == (Outcome.REJECTED, "RequestTimeTooSkewed")
    assert "system clock" in error.message
    assert len(oss_fake.calls) == 2


async def test_missing_credentials_fail_without_network(oss_fake: FakeOss) -> None:
    async with OssClient(endpoint=oss_fake.base_url) as client:
        error = await expect_error(client.get_live_channel_stat(BUCKET, "ch"))
        with pytest.raises(ProviderError, match="MissingCredentials"):
            client.sign_publish_url("rtmp://x/live/ch", bucket=BUCKET, channel="ch", expires_at=1)
    assert (error.outcome, error.code) == (Outcome.REJECTED, "MissingCredentials")
    assert oss_fake.calls == []


async def test_timeout_is_retryable(oss_fake: FakeOss) -> None:
    oss_fake.inject("GetLiveChannelStat", "timeout")
    async with client_for(oss_fake, timeout=0.3) as client:
        error = await expect_error(client.get_live_channel_stat(BUCKET, "ch"))
    assert (error.outcome, error.code) == (Outcome.RETRYABLE, "Timeout")


@pytest.mark.parametrize("bucket", ["Bad", "a", "evil.example.com#", "x/../y", "-ab"])
async def test_bad_bucket_names_never_reach_the_network(oss_fake: FakeOss, bucket: str) -> None:
    async with client_for(oss_fake) as client:
        with pytest.raises(ValueError):
            await client.get_live_channel_stat(bucket, "ch")
        with pytest.raises(ValueError):
            await client.get_live_channel_stat(BUCKET, "a/b")
    assert oss_fake.calls == []


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        (None, "https://relay-records.oss-cn-beijing.aliyuncs.com/c%201?comp=stat&live"),
        (
            "https://oss-cn-beijing-internal.aliyuncs.com",
            "https://relay-records.oss-cn-beijing-internal.aliyuncs.com/c%201?comp=stat&live",
        ),
        ("http://localhost:9000", "http://localhost:9000/relay-records/c%201?comp=stat&live"),
        ("http://[::1]:9000", "http://[::1]:9000/relay-records/c%201?comp=stat&live"),
    ],
)
async def test_addressing_styles(endpoint: str | None, url: str) -> None:
    seen: list[httpx.Request] = []
    stat = b"<LiveChannelStat><Status>Idle</Status></LiveChannelStat>"

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=stat)

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with OssClient(
        "AK",
        "SK",
        region="cn-beijing",
        endpoint=endpoint,
        transport=httpx.MockTransport(answer),
        clock=when.timestamp,
    ) as client:
        result = await client.get_live_channel_stat(BUCKET, "c 1")
    assert result.status is LiveChannelStatus.IDLE
    assert str(seen[0].url) == url
    expected = oss2_v4_authorization(
        "AK",
        "SK",
        method="GET",
        region="cn-beijing",
        bucket=BUCKET,
        key="c 1",
        params={"live": "", "comp": "stat"},
        headers={},
        when=when,
    )
    assert seen[0].headers["authorization"] == expected


@pytest.mark.parametrize(
    ("response", "outcome", "code"),
    [
        (httpx.Response(200, content=b"<html>proxy</html>"), Outcome.REJECTED, "InvalidResponse"),
        (httpx.Response(503, content=b"<html>busy</html>"), Outcome.RETRYABLE, "HTTP503"),
        (httpx.Response(429, content=b""), Outcome.THROTTLED, "HTTP429"),
        (
            httpx.Response(
                400,
                content=b'<!DOCTYPE e [<!ENTITY x "y">]><Error><Code>&x;</Code></Error>',
            ),
            Outcome.REJECTED,
            "HTTP400",
        ),
    ],
)
async def test_odd_answers(response: httpx.Response, outcome: Outcome, code: str) -> None:
    async with OssClient("AK", "SK", transport=httpx.MockTransport(lambda _: response)) as client:
        error = await expect_error(client.put_live_channel(BUCKET, "c", LiveChannelTarget()))
    assert (error.outcome, error.code) == (outcome, code)


def test_classification_table() -> None:
    assert classify_oss(503, "MetaOperationQpsLimitExceeded") is Outcome.THROTTLED
    assert classify_oss(403, "RequestTimeTooSkewed") is Outcome.RETRYABLE
    assert classify_oss(404, "NoSuchLiveChannel") is Outcome.REJECTED
    assert classify_oss(500, None) is Outcome.RETRYABLE
    assert classify_oss(400, None) is Outcome.REJECTED


async def test_put_body_is_the_validated_configuration(oss_fake: FakeOss) -> None:
    async with client_for(oss_fake) as client:
        await client.put_live_channel(
            BUCKET, "ch", LiveChannelTarget(description="<b>&</b>", enabled=False)
        )
    call = oss_fake.calls_for("PutLiveChannel")[0]
    assert call.headers["content-type"] == "application/xml"
    channel = oss_fake.channel(BUCKET, "ch")
    assert channel.config["Description"] == "<b>&</b>"
    assert channel.config["Status"] == "disabled"
    with pytest.raises(RuntimeError):
        oss_fake.start_push(BUCKET, "ch")
    assert ET.fromstring(LiveChannelTarget().to_xml()).tag == "LiveChannelConfiguration"
