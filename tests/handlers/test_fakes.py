"""The fake providers verify like the real ones and simulate what e2e tests need."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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

from handlers.aliyun_client import AliyunLiveClient
from handlers.aliyun_signing import AcsV3Auth
from handlers.tc3_signing import Tc3Auth
from tests.fakes import FakeAliyunLive, FakeTrtc
from tests.fakes.aliyun_live import ApiError
from tests.fakes.trtc import sign_callback
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
    with pytest.raises(ApiError, match="DstUrlExists"):
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

        async def ids(**filters: Any) -> list[str]:
            found = await client.describe_live_pull_to_push_list(REGION, **filters)
            return [task["TaskId"] for task in found["TaskList"]]

        assert await ids() == [a, b]
        assert await ids(dst_url="alp") == [a]
        assert await ids(task_name="even") == [b]
        assert await ids(task_id=b[:8]) == [b]
        page = await client.describe_live_pull_to_push_list(REGION, page_size=1, page_number=2)
    assert (page["Total"], [t["TaskId"] for t in page["TaskList"]]) == (2, [b])


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
