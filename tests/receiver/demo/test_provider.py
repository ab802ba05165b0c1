"""The demo's simulated provider answers relaywarden's real Alibaba client (served by real
uvicorn on loopback) and sends callbacks to each task's CallbackUrl, as the provider does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.aliyun_client import AliyunLiveClient
from handlers.outcome import ProviderError
from handlers.ratelimit import WindowRateLimiter
from receiver.demo.provider import SimulatedLive
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.anyio


async def wait_for(predicate: Callable[[], object], *, what: str) -> None:
    """Poll without blocking the loop (the callbacks ``fail`` sends run on it)."""
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def received() -> Iterator[tuple[str, list[dict[str, object]]]]:
    bodies: list[dict[str, object]] = []

    async def hook(request: Request) -> Response:
        bodies.append(json.loads(await request.body()))
        return Response(b'{"status":"accepted"}')

    with serve_in_thread(Starlette(routes=[Route("/cb", hook, methods=["POST"])])) as base:
        yield f"{base}/cb?token=t&relay=r1", bodies


async def test_create_fail_delete_with_callbacks(
    received: tuple[str, list[dict[str, object]]],
) -> None:
    callback_url, bodies = received
    provider = SimulatedLive()
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    with serve_in_thread(provider.app) as url:
        client = AliyunLiveClient(url, "key", "secret", limiter=WindowRateLimiter(10), qps=10)
        created = await client.create_live_pull_to_push(
            {
                "Region": "cn-shanghai",
                "SourceType": "live",
                "SourceUrls": ["rtmp://src.demo.invalid/live/a"],
                "DstUrl": "rtmp://push.demo.invalid/live/a",
                "StartTime": end,
                "EndTime": end,
                "CallbackUrl": callback_url,
            }
        )
        task_id = created.TaskId
        await wait_for(lambda: bodies, what="the Running callback")
        assert (bodies[0]["TaskId"], bodies[0]["TaskStatus"]) == (task_id, 1)
        await provider.fail(task_id)
        await wait_for(lambda: len(bodies) == 2, what="the failure callback")
        assert (bodies[1]["TaskStatus"], bodies[1]["TaskInvalidReason"]) == (3, "PullStreamFailed")
        described = await client.describe_live_pull_to_push("cn-shanghai", task_id)
        assert described.TaskStatus == 3
        await client.delete_live_pull_to_push("cn-shanghai", task_id)
        await wait_for(lambda: len(bodies) == 3, what="the Exit callback")
        assert bodies[2]["Event"] == "LivePullToPushExit"
        with pytest.raises(ProviderError, match="CodeTaskNotExist"):
            await client.describe_live_pull_to_push("cn-shanghai", task_id)
        await client.aclose()
