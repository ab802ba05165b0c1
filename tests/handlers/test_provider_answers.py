"""Provider answers as Structs: extra fields ignored, wrong types refused as retryable."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import msgspec
import pytest

from handlers.aliyun_client import AliyunLiveClient
from handlers.artc_client import ArtcClient
from handlers.outcome import Outcome, ProviderError
from handlers.provider_answers import (
    PullToPushList,
    PullToPushTask,
    TaskCreated,
    TranscodeAnswer,
    TranscodeOutputEcho,
)
from handlers.trtc_client import TrtcClient

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx.Request], httpx.Response]


def _aliyun(handler: Handler) -> AliyunLiveClient:
    return AliyunLiveClient("https://live.example", "id", "secret", transport=_mock(handler))


def _trtc(handler: Handler) -> TrtcClient:
    return TrtcClient("https://trtc.example", "id", "key", transport=_mock(handler))


def _mock(handler: Handler) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


def test_unknown_fields_are_ignored_and_known_ones_typed() -> None:
    raw = (
        b'{"RequestId":"r","TaskId":"t1","TaskStatus":"-1","TaskExitReason":"done",'
        b'"TaskInfo":{"DstUrl":"rtmp://d/a/s","Offset":"3"},"NewField":{"x":[1,2]}}'
    )
    task = msgspec.json.decode(raw, type=PullToPushTask)
    assert (task.task_id, task.status_code, task.TaskExitReason) == ("t1", -1, "done")
    assert task.info == {"DstUrl": "rtmp://d/a/s", "Offset": "3"}  # TaskInfo stays lenient


def test_a_task_id_may_come_from_task_info_and_a_status_may_be_unreadable() -> None:
    task = PullToPushTask(TaskStatus="running", TaskInfo={"TaskId": "t9"})
    assert (task.task_id, task.status_code) == ("t9", None)
    assert PullToPushTask().info == {} and PullToPushTask().task_id is None
    assert PullToPushList().tasks == []


def test_echoed_user_tokens_are_not_kept() -> None:
    raw = (
        b'{"TaskInfo":{"Status":"RUNNING","OutputParams":[{"ChannelId":"c","UserId":"u",'
        b'"UserToken":"secret-token","TranscodeTemplate":"lhd"}]}}'
    )
    info = msgspec.json.decode(raw, type=TranscodeAnswer).TaskInfo
    assert info is not None
    assert info.OutputParams == [TranscodeOutputEcho("c", "u", "lhd")]
    assert b"secret-token" not in msgspec.json.encode(info)


async def test_an_aliyun_answer_with_a_field_of_the_wrong_type_is_retryable() -> None:
    answer = {"RequestId": "r", "TaskId": {"not": "a string"}}
    async with _aliyun(lambda _: httpx.Response(200, json=answer)) as client:
        with pytest.raises(ProviderError) as caught:
            await client.create_live_pull_to_push({"Region": "cn-shanghai"})
    error = caught.value
    assert (error.outcome, error.code, error.api) == (
        Outcome.RETRYABLE,
        "InvalidResponse",
        "CreateLivePullToPush",
    )
    assert "TaskCreated" in error.message


async def test_a_trtc_answer_is_read_from_its_response_object() -> None:
    body = {"Response": {"RequestId": "r", "TaskId": "-a+b", "Extra": [1]}}
    async with _trtc(lambda _: httpx.Response(200, json=body)) as client:
        assert await client.start_stream_ingest({"SdkAppId": 1}) == TaskCreated("-a+b")
    wrong = {"Response": {"RequestId": "r", "Status": 5}}
    async with _trtc(lambda _: httpx.Response(200, json=wrong)) as client:
        with pytest.raises(ProviderError) as caught:
            await client.describe_stream_ingest(1, "t")
    assert (caught.value.outcome, caught.value.code) == (Outcome.RETRYABLE, "InvalidResponse")


@pytest.mark.parametrize(
    "body",
    [{"Response": None}, {"Response": "text"}, {"Response": {"Error": "flat"}}, []],
)
async def test_a_trtc_answer_without_a_response_object_is_retryable(body: object) -> None:
    async with _trtc(lambda _: httpx.Response(200, json=body)) as client:
        with pytest.raises(ProviderError) as caught:
            await client.describe_stream_ingest(1, "t")
    assert (caught.value.outcome, caught.value.code) == (Outcome.RETRYABLE, "InvalidResponse")


async def test_an_unknown_transcode_status_is_refused() -> None:
    body = {"TaskInfo": {"Status": "EXPLODED"}}
    transport = _mock(lambda _: httpx.Response(200, json=body))
    async with ArtcClient("https://live.example", "ak", "sk", transport=transport) as client:
        with pytest.raises(ProviderError) as caught:
            await client.describe_transcode("app", "task")
    assert (caught.value.outcome, caught.value.code) == (Outcome.REJECTED, "InvalidResponse")
