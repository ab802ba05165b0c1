"""The fake providers verify like the real ones and simulate what e2e tests need."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.trtc.v20190722 import models, trtc_client

from handlers.aliyun_client import AliyunLiveClient, is_dst_url_conflict
from handlers.aliyun_signing import AcsV3Auth
from handlers.outcome import ProviderError
from handlers.tc3_signing import Tc3Auth
from handlers.trtc_client import TrtcClient
from receiver.auth import trtc_sign
from tests.fakes import FakeAliyunLive, FakeTrtc
from tests.fakes.aliyun_live import DST_URL_CONFLICT_CODE, ApiError
from tests.fakes.trtc import sign_callback
from tests.receiver.helpers import CALLBACK_TOKEN, TRTC_KEY, TRTC_PATH, Server, running_server
from tests.support.servers import serve_in_thread

REGION = "cn-shanghai"


def _utc(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def task_params(dst: str = "rtmp://push.example.com/live/a", **extra: Any) -> dict[str, Any]:
    return {
        "Region": REGION,
        "SourceType": "live",
        "SourceProtocol": "rtmp",
        "SourceUrls": ["rtmp://src.example.com/live/a"],
        "DstUrl": dst,
        "StartTime": _utc(timedelta(minutes=-1)),
        "EndTime": _utc(timedelta(hours=1)),
        **extra,
    }


# ---------------------------------------------------------------- TRTC: the official SDK


def sdk_client(fake: FakeTrtc, secret_key: str | None = None) -> trtc_client.TrtcClient:
    assert fake.base_url is not None
    endpoint = fake.base_url.removeprefix("http://")
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint))
    cred = credential.Credential(fake.secret_id, secret_key or fake.secret_key)
    return trtc_client.TrtcClient(cred, "ap-singapore", profile)


def test_official_trtc_sdk_is_accepted(trtc_fake: FakeTrtc) -> None:
    client = sdk_client(trtc_fake)
    start = models.StartStreamIngestRequest()
    start.from_json_string(
        json.dumps(
            {
                "SdkAppId": 1400000001,
                "RoomId": "room-9",
                "RoomIdType": 0,
                "UserId": "bot",
                "UserSig": "sig",
                "StreamUrl": "https://play.example.com/a.flv",
            }
        )
    )
    task_id = client.StartStreamIngest(start).TaskId
    assert task_id in {task.task_id for task in trtc_fake.tasks}

    describe = models.DescribeStreamIngestRequest()
    describe.from_json_string(json.dumps({"SdkAppId": 1400000001, "TaskId": task_id}))
    assert client.DescribeStreamIngest(describe).Status == "InProgress"

    stop = models.StopStreamIngestRequest()
    stop.from_json_string(json.dumps({"SdkAppId": 1400000001, "TaskId": task_id}))
    client.StopStreamIngest(stop)
    with pytest.raises(TencentCloudSDKException) as caught:
        client.StopStreamIngest(stop)  # HTTP 200 error body: the SDK raises on it
    assert caught.value.get_code() == "FailedOperation.TaskFinished"
    assert [c.outcome for c in trtc_fake.calls] == [
        "ok",
        "ok",
        "ok",
        "FailedOperation.TaskFinished",
    ]


def test_official_trtc_sdk_with_a_wrong_key_is_refused(trtc_fake: FakeTrtc) -> None:
    describe = models.DescribeStreamIngestRequest()
    describe.from_json_string(json.dumps({"SdkAppId": 1, "TaskId": "x"}))
    with pytest.raises(TencentCloudSDKException) as caught:
        sdk_client(trtc_fake, secret_key="wrong").DescribeStreamIngest(describe)
    assert caught.value.get_code() == "AuthFailure.SignatureFailure"


def test_trtc_fake_refuses_a_tampered_body(trtc_fake: FakeTrtc) -> None:
    assert trtc_fake.base_url is not None
    request = httpx.Request(
        "POST",
        trtc_fake.base_url + "/",
        content=b'{"SdkAppId":1,"TaskId":"x"}',
        headers={
            "Content-Type": "application/json",
            "X-TC-Action": "DescribeStreamIngest",
            "X-TC-Version": "2019-07-22",
            "X-TC-Region": "ap-singapore",
        },
    )
    signed = next(
        Tc3Auth(trtc_fake.secret_id, trtc_fake.secret_key, "trtc").sync_auth_flow(request)
    )
    tampered = httpx.Request(
        "POST", signed.url, headers=signed.headers, content=b'{"SdkAppId":2,"TaskId":"x"}'
    )
    with httpx.Client() as http:
        assert http.send(signed).json()["Response"]["Status"] == "NotExist"
        error = http.send(tampered).json()["Response"]["Error"]
    assert error["Code"] == "AuthFailure.SignatureFailure"


def test_trtc_callback_signing_matches_the_documented_vector() -> None:
    body = (
        '{\n\t"EventGroupId":\t2,\n\t"EventType":\t204,\n\t"CallbackTs":\t1664209748188,\n'
        '\t"EventInfo":\t{\n\t\t"RoomId":\t8489,\n\t\t"EventTs":\t1664209748,\n'
        '\t\t"EventMsTs":\t1664209748180,\n\t\t"UserId":\t"user_85034614",\n'
        '\t\t"Reason":\t0\n\t}\n}'
    )
    assert sign_callback(body.encode(), "123654") == "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA="


# ---------------------------------------------------------------- Alibaba: verification


def _signed_request(fake: FakeAliyunLive, **params: str) -> httpx.Request:
    assert fake.base_url is not None
    request = httpx.Request(
        "GET",
        fake.base_url + "/",
        params=params,
        headers={"x-acs-action": "DescribeLivePullToPushList", "x-acs-version": "2016-11-01"},
    )
    return next(AcsV3Auth(fake.access_key_id, fake.access_key_secret).sync_auth_flow(request))


def _answer(request: httpx.Request) -> tuple[int, dict[str, Any]]:
    with httpx.Client() as http:
        response = http.send(request)
    return response.status_code, response.json()


def test_aliyun_fake_accepts_a_good_signature_once(aliyun_fake: FakeAliyunLive) -> None:
    request = _signed_request(aliyun_fake, Region=REGION)
    status, body = _answer(request)
    assert status == 200 and body["Total"] == 0
    status, body = _answer(request)  # a replay reuses the nonce
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_aliyun_fake_refuses_a_changed_query(aliyun_fake: FakeAliyunLive) -> None:
    signed = _signed_request(aliyun_fake, Region=REGION)
    changed = httpx.Request(
        "GET", signed.url.copy_with(query=b"Region=cn-beijing"), headers=signed.headers
    )
    status, body = _answer(changed)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in body["Message"]


def test_aliyun_fake_requires_the_acs_headers_to_be_signed(aliyun_fake: FakeAliyunLive) -> None:
    signed = _signed_request(aliyun_fake, Region=REGION)
    headers = dict(signed.headers)
    headers["authorization"] = headers["authorization"].replace("x-acs-signature-nonce;", "")
    status, body = _answer(httpx.Request("GET", signed.url, headers=headers))
    assert (status, body["Code"]) == (400, "IncompleteSignature")
    headers = dict(signed.headers)
    headers["x-acs-content-sha256"] = hashlib.sha256(b"x").hexdigest()
    status, body = _answer(httpx.Request("GET", signed.url, headers=headers))
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    del headers["authorization"]
    status, body = _answer(httpx.Request("GET", signed.url, headers=headers))
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_aliyun_fake_checks_the_date(aliyun_fake: FakeAliyunLive) -> None:
    assert aliyun_fake.base_url is not None
    stale = AcsV3Auth("fake-access-key-id", "fake-access-key-secret", clock=lambda: 1e9)
    request = httpx.Request(
        "GET",
        aliyun_fake.base_url + "/?Region=cn-shanghai",
        headers={"x-acs-action": "DescribeLivePullToPushList", "x-acs-version": "2016-11-01"},
    )
    status, body = _answer(next(stale.sync_auth_flow(request)))
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")


# ---------------------------------------------------------------- Alibaba: state helpers


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A tiny callback receiver: yields its URL and what it received."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def receive(request: Request) -> JSONResponse:
        received.append((dict(request.headers), await request.body()))
        return JSONResponse({"status": "accepted"})

    app = Starlette(routes=[Route("/cb", receive, methods=["POST"])])
    with serve_in_thread(app) as url:
        yield url + "/cb", received


def test_status_changes_produce_callbacks(
    aliyun_fake: FakeAliyunLive, recorder: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = recorder
    task_id = aliyun_fake.add_task(task_params(CallbackUrl=url + "?token=t"))
    assert aliyun_fake.task(task_id).status == 1

    offline = aliyun_fake.set_task_status(task_id, 3, "PullStreamFailed")
    assert offline["Event"] == "LivePullToPushRunning"
    assert offline["TaskStatus"] == 3
    assert offline["TaskInvalidReason"] == "PullStreamFailed"
    assert offline["TaskInfo"]["TaskId"] == task_id
    assert isinstance(offline["EventTime"], str)
    assert aliyun_fake.post_callback(task_id, offline).status_code == 200

    exited = aliyun_fake.set_task_status(task_id, -1)
    assert exited["Event"] == "LivePullToPushExit"
    assert exited["TaskExitReason"] == "OverEndTime"
    assert isinstance(exited["TaskExitTime"], int)
    assert aliyun_fake.post_callback(task_id).status_code == 200

    assert [json.loads(body)["TaskId"] for _, body in received] == [task_id, task_id]
    assert json.loads(received[1][1])["Event"] == "LivePullToPushExit"


@pytest.mark.anyio
async def test_async_callback_delivery(
    aliyun_fake: FakeAliyunLive, recorder: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = recorder
    task_id = aliyun_fake.add_task(task_params(CallbackUrl=url))
    aliyun_fake.set_task_status(task_id, 2)
    response = await aliyun_fake.apost_callback(task_id)
    assert response.status_code == 200
    assert json.loads(received[0][1])["TaskStatus"] == 2


def test_exit_frees_the_dst_url_and_removal_hides_the_task(aliyun_fake: FakeAliyunLive) -> None:
    first = aliyun_fake.add_task(task_params())
    with pytest.raises(ApiError, match=DST_URL_CONFLICT_CODE):
        aliyun_fake.add_task(task_params())
    aliyun_fake.set_task_status(first, -1, "OverEndTime")
    second = aliyun_fake.add_task(task_params())
    assert second != first
    aliyun_fake.remove_task(first)
    assert [t.task_id for t in aliyun_fake.tasks if not t.deleted] == [second]


@pytest.mark.anyio
async def test_list_filters_are_fuzzy(aliyun_fake: FakeAliyunLive) -> None:
    a = aliyun_fake.add_task(task_params("rtmp://push.example.com/live/alpha", TaskName="morning"))
    b = aliyun_fake.add_task(task_params("rtmp://push.example.com/live/beta", TaskName="evening"))
    aliyun_fake.add_task(task_params("rtmp://other.example.com/x", Region="cn-beijing"))
    assert aliyun_fake.base_url is not None
    key_id, secret = aliyun_fake.access_key_id, aliyun_fake.access_key_secret
    async with AliyunLiveClient(aliyun_fake.base_url, key_id, secret) as client:

        async def ids(**filters: Any) -> list[str | None]:
            found = await client.describe_live_pull_to_push_list(REGION, **filters)
            return [task.TaskId for task in found.tasks]

        assert await ids() == [a, b]
        assert await ids(dst_url="alp") == [a]
        assert await ids(task_name="even") == [b]
        assert await ids(task_id=b[:8]) == [b]
        page = await client.describe_live_pull_to_push_list(REGION, page_size=1, page_number=2)
    assert (page.Total, [t.TaskId for t in page.tasks]) == (2, [b])


def test_create_validates_like_the_provider(aliyun_fake: FakeAliyunLive) -> None:
    with pytest.raises(ApiError, match="MissingDstUrl"):
        aliyun_fake.add_task({k: v for k, v in task_params().items() if k != "DstUrl"})
    with pytest.raises(ApiError, match="InvalidParameter"):
        aliyun_fake.add_task(task_params(SourceUrls=["rtmp://a/b", "rtmp://c/d"]))
    with pytest.raises(ApiError, match="CodeIllegalDuration"):
        aliyun_fake.add_task(task_params(EndTime=_utc(timedelta(minutes=-5))))
    idle = aliyun_fake.add_task(
        task_params(StartTime=_utc(timedelta(hours=1)), EndTime=_utc(timedelta(hours=2)))
    )
    assert aliyun_fake.task(idle).status == 0


# ---------------------------------------------------------------- fidelity: TRTC


INGEST: dict[str, Any] = {
    "SdkAppId": 1400000001,
    "RoomId": "room-7",
    "RoomIdType": 0,
    "UserId": "ingest-bot",
    "UserSig": "sig",
    "StreamUrl": "https://play.example.com/a.flv",
}


@pytest.fixture
def relaywarden(tmp_path: Path) -> Iterator[Server]:
    """A real relaywarden on loopback that the fakes' callbacks are delivered to."""
    with running_server(tmp_path) as server:
        yield server


@pytest.fixture
def trtc_calling_back(trtc_fake: FakeTrtc, relaywarden: Server) -> FakeTrtc:
    """The TRTC fake with relaywarden's TRTC route and key as its console callback settings."""
    trtc_fake.callback_url = relaywarden.base + TRTC_PATH
    trtc_fake.callback_key = TRTC_KEY
    return trtc_fake


def trtc_client_for(fake: FakeTrtc) -> TrtcClient:
    assert fake.base_url is not None
    return TrtcClient(fake.base_url, fake.secret_id, fake.secret_key)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.anyio
async def test_trtc_retried_start_for_the_same_room_and_user_is_task_exist(
    trtc_fake: FakeTrtc,
) -> None:
    async with trtc_client_for(trtc_fake) as client:
        first = (await client.start_stream_ingest(INGEST)).TaskId
        with pytest.raises(ProviderError) as retried:
            await client.start_stream_ingest(INGEST)
        assert retried.value.code == "FailedOperation.TaskExist"
        other_user = await client.start_stream_ingest({**INGEST, "UserId": "bot-2"})
        await client.stop_stream_ingest(INGEST["SdkAppId"], first)
        again = (await client.start_stream_ingest(INGEST)).TaskId
    assert len({first, again, other_user.TaskId}) == 3


@pytest.mark.anyio
async def test_trtc_failed_start_sends_a_signed_701_status_1(
    trtc_calling_back: FakeTrtc, relaywarden: Server
) -> None:
    trtc_fake = trtc_calling_back
    trtc_fake.fail_next_starts()
    async with trtc_client_for(trtc_fake) as client:
        task_id = (await client.start_stream_ingest(INGEST)).TaskId
        described = await client.describe_stream_ingest(INGEST["SdkAppId"], task_id)
    assert described.Status == "NotExist"
    wait_for(lambda: bool(trtc_fake.callbacks.deliveries), "the 701 callback")
    [delivery] = trtc_fake.callbacks.deliveries
    wait_for(lambda: delivery.status is not None, "relaywarden's answer")
    assert delivery.status == 200
    assert delivery.headers["Sign"] == trtc_sign(TRTC_KEY, delivery.body)
    assert delivery.headers["SdkAppId"] == str(INGEST["SdkAppId"])
    body = json.loads(delivery.body)
    assert (body["EventGroupId"], body["EventType"], body["EventInfo"]["Status"]) == (7, 701, 1)
    assert relaywarden.task("trtc", task_id)["status"] == "failed"


@pytest.mark.anyio
async def test_trtc_auto_callbacks_for_api_start_and_stop(
    trtc_calling_back: FakeTrtc, relaywarden: Server
) -> None:
    trtc_fake = trtc_calling_back
    trtc_fake.auto_callbacks = True
    async with trtc_client_for(trtc_fake) as client:
        task_id = (await client.start_stream_ingest(INGEST)).TaskId
        wait_for(lambda: len(trtc_fake.callbacks.deliveries) == 1, "the 701 callback")
        await client.stop_stream_ingest(INGEST["SdkAppId"], task_id)
    wait_for(lambda: len(trtc_fake.callbacks.deliveries) == 2, "the 702 callback")
    wait_for(lambda: trtc_fake.callbacks.deliveries[1].status is not None, "an answer")
    events = [json.loads(d.body) for d in trtc_fake.callbacks.deliveries]
    assert [(e["EventType"], e["EventInfo"]["Status"]) for e in events] == [(701, 0), (702, 0)]
    assert relaywarden.task("trtc", task_id)["status"] == "stopped"


def test_trtc_ingest_that_stops_on_its_own_notifies_or_vanishes_silently(
    trtc_calling_back: FakeTrtc, relaywarden: Server
) -> None:
    trtc_fake = trtc_calling_back
    quiet, loud = trtc_fake.add_task(INGEST), trtc_fake.add_task({**INGEST, "UserId": "b"})
    trtc_fake.finish_task(quiet)  # vanishes: DescribeStreamIngest says NotExist, no callback
    assert trtc_fake.callbacks.deliveries == []
    trtc_fake.finish_task(loud, "source ended", notify=True)
    [delivery] = trtc_fake.callbacks.deliveries
    assert delivery.status == 200 and json.loads(delivery.body)["EventType"] == 702
    assert relaywarden.task("trtc", loud)["status"] == "stopped"
    assert not trtc_fake.task(quiet).in_progress


def test_trtc_callbacks_can_be_lost(trtc_calling_back: FakeTrtc, relaywarden: Server) -> None:
    trtc_fake = trtc_calling_back
    task_id = trtc_fake.add_task(INGEST)
    trtc_fake.callbacks.lose_next()
    assert trtc_fake.send_callback(task_id, 701, 0) is None
    response = trtc_fake.send_callback(task_id, 701, 2)
    assert response is not None and response.status_code == 200
    assert [d.lost for d in trtc_fake.callbacks.deliveries] == [True, False]
    task = relaywarden.task("trtc", task_id)
    assert [e["provider_status"] for e in task["events"]] == ["701:2"]
    trtc_fake.callbacks.lose_all = True
    assert trtc_fake.send_callback(task_id, 702) is None
    assert len(relaywarden.task("trtc", task_id)["events"]) == 1


def test_trtc_callbacks_need_a_url_and_key(trtc_fake: FakeTrtc) -> None:
    task_id = trtc_fake.add_task(INGEST)
    with pytest.raises(ValueError, match="callback_url"):
        trtc_fake.send_callback(task_id, 702)


# ---------------------------------------------------------------- fidelity: Alibaba


class Clock:
    """A settable wall clock for the provider."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked_aliyun() -> Iterator[tuple[FakeAliyunLive, Clock]]:
    clock = Clock()
    fake = FakeAliyunLive(wall_clock=clock, delete_propagation_seconds=30.0)
    with fake.serve():
        yield fake, clock


def aliyun_client_for(fake: FakeAliyunLive) -> AliyunLiveClient:
    assert fake.base_url is not None
    return AliyunLiveClient(fake.base_url, fake.access_key_id, fake.access_key_secret)


@pytest.mark.anyio
async def test_a_taken_dst_url_is_code_config_already_exists_and_deletion_propagates(
    clocked_aliyun: tuple[FakeAliyunLive, Clock],
) -> None:
    fake, clock = clocked_aliyun
    params = task_params()  # times from the real clock, which the fake clock starts at
    async with aliyun_client_for(fake) as client:
        first = (await client.create_live_pull_to_push(params)).TaskId
        with pytest.raises(ProviderError) as taken:
            await client.create_live_pull_to_push(params)
        assert (taken.value.code, taken.value.http_status) == (DST_URL_CONFLICT_CODE, 400)
        assert is_dst_url_conflict(taken.value)
        await client.delete_live_pull_to_push(REGION, first)
        clock.now += 29  # deletion not yet propagated: still taken
        with pytest.raises(ProviderError) as transient:
            await client.create_live_pull_to_push(params)
        assert transient.value.code == DST_URL_CONFLICT_CODE
        clock.now += 2
        second = (await client.create_live_pull_to_push(params)).TaskId
    assert second != first


@pytest.mark.anyio
async def test_a_task_lives_in_one_region(aliyun_fake: FakeAliyunLive) -> None:
    task_id = aliyun_fake.add_task(task_params(CallbackUrl="https://rw.example.com/cb?token=x"))
    async with aliyun_client_for(aliyun_fake) as client:
        for call in (client.describe_live_pull_to_push, client.delete_live_pull_to_push):
            with pytest.raises(ProviderError) as wrong:
                await call("cn-beijing", task_id)
            assert wrong.value.code == "CodeTaskNotExist"
        elsewhere = await client.describe_live_pull_to_push_list("cn-beijing")
        described = await client.describe_live_pull_to_push(REGION, task_id)
        listed = await client.describe_live_pull_to_push_list(REGION, dst_url="live/a")
    assert elsewhere.Total == 0 and elsewhere.tasks == []
    assert described.TaskStatus == 1
    assert described.info["CallbackURL"] == "https://rw.example.com/cb?token=x"
    assert "CallbackUrl" not in described.info
    assert [t.TaskId for t in listed.tasks] == [task_id]


def test_aliyun_status_changes_notify_only_when_asked_and_can_be_lost(
    aliyun_fake: FakeAliyunLive, relaywarden: Server
) -> None:
    url = f"{relaywarden.base}/callbacks/aliyun/pull-to-push?token={CALLBACK_TOKEN}"
    task_id = aliyun_fake.add_task(task_params(CallbackUrl=url))
    aliyun_fake.set_task_status(task_id, 3, "PullStreamFailed")  # offline, silently
    assert aliyun_fake.callbacks.deliveries == []
    aliyun_fake.callbacks.lose_next()
    aliyun_fake.set_task_status(task_id, 2, notify=True)  # lost on the way
    aliyun_fake.set_task_status(task_id, 1, notify=True)
    assert [(d.lost, d.status) for d in aliyun_fake.callbacks.deliveries] == [
        (True, None),
        (False, 200),
    ]
    events = relaywarden.task("aliyun", task_id)["events"]
    assert [e["status"] for e in events] == ["running"]
    aliyun_fake.remove_task(task_id)  # vanishes: no callback, Describe says not exist
    assert len(aliyun_fake.callbacks.deliveries) == 2


@pytest.mark.anyio
async def test_aliyun_auto_callbacks_follow_api_changes(
    aliyun_fake: FakeAliyunLive, relaywarden: Server
) -> None:
    url = f"{relaywarden.base}/callbacks/aliyun/pull-to-push?token={CALLBACK_TOKEN}"
    aliyun_fake.auto_callbacks = True
    idle_params = task_params(
        "rtmp://push.example.com/live/idle",
        CallbackUrl=url,
        StartTime=_utc(timedelta(hours=1)),
        EndTime=_utc(timedelta(hours=2)),
    )
    async with aliyun_client_for(aliyun_fake) as client:
        await client.create_live_pull_to_push(idle_params)  # Idle: no callback
        task_id = (await client.create_live_pull_to_push(task_params(CallbackUrl=url))).TaskId
        wait_for(lambda: len(aliyun_fake.callbacks.deliveries) == 1, "the Running callback")
        await client.stop_live_pull_to_push(REGION, task_id)
        wait_for(lambda: len(aliyun_fake.callbacks.deliveries) == 2, "the Offline callback")
        await client.delete_live_pull_to_push(REGION, task_id)
    wait_for(lambda: len(aliyun_fake.callbacks.deliveries) == 3, "the Exit callback")
    wait_for(lambda: aliyun_fake.callbacks.deliveries[2].status is not None, "an answer")
    bodies = [json.loads(d.body) for d in aliyun_fake.callbacks.deliveries]
    assert [b.get("TaskStatus") for b in bodies[:2]] == [1, 3]
    assert bodies[1]["TaskInvalidReason"] == "TriggerByUser"
    assert (bodies[2]["Event"], bodies[2]["TaskExitReason"]) == (
        "LivePullToPushExit",
        "TriggerByUser",
    )
    assert {d.status for d in aliyun_fake.callbacks.deliveries} == {200}
    assert relaywarden.task("aliyun", task_id)["status"] == "exited"
