"""Hostile provider answers, served by the fake providers on loopback.

A quadratic message, an answer that trickles forever, a proxy's page with a 200 and an
answer of many megabytes must neither stall callbacks nor kill or duplicate jobs.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from handlers.aliyun_client import AliyunLiveClient
from handlers.outcome import MAX_PROVIDER_TEXT, Outcome, ProviderError, sanitize
from handlers.trtc_client import TrtcClient
from receiver.redaction import mask_text
from tests.e2e.conftest import Stack, relay_body, wait_for
from tests.e2e.helpers import declare, jobs_of, wait_relay
from tests.fakes.aliyun_live import FakeAliyunLive
from tests.fakes.common import ErrorFault
from tests.fakes.trtc import FakeTrtc

CREATE = "CreateLivePullToPush"
HOSTILE_TEXTS = [
    "token" + " " * 24_000,
    "token" + " " * 1_000_000 + "x",
    "Signature" + "\t" * 500_000 + ":",
    "secret" + "a" * 1_000_000,
    "server" + " " * 1_000_000 + "string to sign",
    "token = " * 200_000,
    "&token=" + "%41" * 500_000,
    "UserSig " + "'" * 500_000,
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=lambda t: repr(t[:12]))
def test_masking_is_linear_on_hostile_text(text: str) -> None:
    started = time.perf_counter()
    cleaned = sanitize(text)
    assert time.perf_counter() - started < 0.2
    assert len(cleaned) <= 300
    started = time.perf_counter()
    mask_text(text)  # the log/view masking sees whole strings: linear, not bounded
    assert time.perf_counter() - started < 3.0


def test_provider_text_is_bounded_before_masking_without_leaking_a_cut_secret() -> None:
    secret = "Zq9-secret-value-0123456789"
    # Blanks collapse, so the start of the cut secret would be the whole message.
    text = " " * (MAX_PROVIDER_TEXT - 10) + secret
    assert text[:MAX_PROVIDER_TEXT].endswith(secret[:10])
    assert secret[:6] not in sanitize(text, [secret])
    assert sanitize(" " * 10 + secret, [secret]) == "***"


def test_hostile_error_message_does_not_stall_callbacks(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory(job_max_attempts=1)
    hostile = "token" + " " * 24_000 + "!"
    stack.aliyun.inject(CREATE, ErrorFault(400, "InvalidParameter", hostile))
    relay_id = declare(stack, relay_body("hostile-message"))
    latencies: list[float] = []
    n = 0
    deadline = time.monotonic() + 30
    while not any(j["state"] == "dead" for j in jobs_of(stack, relay_id, "create_task")):
        assert time.monotonic() < deadline, "the job never finished"
        n += 1
        started = time.monotonic()
        response = stack.http.post(
            "/callbacks/aliyun/pull-to-push",
            params={"token": stack.registered_callback_url().rsplit("=", 1)[1]},
            json={
                "Event": "LivePullToPushRunning",
                "EventTime": str(1725501000 + n),
                "TaskId": "bystander",
                "TaskStatus": "1",
            },
        )
        latencies.append(time.monotonic() - started)
        assert response.status_code == 200
    assert max(latencies) < 1.0, latencies
    [job] = jobs_of(stack, relay_id, "create_task")
    assert len(job["last_error"]) < 400
    assert "InvalidParameter" in job["last_error"]


def test_trickling_answer_ends_at_the_deadline_and_never_doubles_a_call(
    stack_factory: Callable[..., Stack],
) -> None:
    # Lease 4 s; the fake sends one byte every 0.3 s for 6 s (never tripping a read timeout).
    stack = stack_factory(job_lease_seconds=4, provider_deadline_seconds=1.0)
    stack.aliyun.hang_seconds = 6.0
    stack.aliyun.trickle_seconds = 0.3
    stack.aliyun.inject(CREATE, "trickle", "trickle")
    relay = wait_relay(stack, declare(stack, relay_body("trickled")), "created", state="active")
    calls = stack.aliyun.calls_for(CREATE)
    assert [c.outcome for c in calls] == ["trickle", "trickle", "ok"]
    wait_for(lambda: all(c.ended is not None for c in calls[:2]), what="trickles to end")
    for call in calls[:2]:
        assert call.ended is not None and call.ended - call.time < 1.0 + 1.5
    # One call at a time for the job: each began after the previous one ended.
    for before, after in itertools.pairwise(calls):
        assert before.ended is not None and after.time >= before.ended - 0.05
    assert relay["current_task_id"]
    stack.wait_jobs_settled()
    [job] = jobs_of(stack, relay["id"], "create_task")
    assert job["state"] == "succeeded"


def test_proxy_page_with_200_is_retried_not_fatal(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory()
    stack.aliyun.inject(CREATE, "proxy_page", "proxy_page")
    relay = wait_relay(stack, declare(stack, relay_body("proxied")), "created", state="active")
    assert [c.outcome for c in stack.aliyun.calls_for(CREATE)] == ["ProxyPage", "ProxyPage", "ok"]
    # The relay is active once the task is recorded; the job finishes just after.
    stack.wait_jobs_settled()
    [job] = jobs_of(stack, relay["id"], "create_task")
    assert job["state"] == "succeeded" and job["attempts"] == 3


@pytest.mark.anyio
async def test_trtc_proxy_page_with_200_is_retryable() -> None:
    fake = FakeTrtc(hang_seconds=2.0)
    with fake.serve() as url:
        fake.inject("DescribeStreamIngest", "proxy_page")
        async with TrtcClient(url, fake.secret_id, fake.secret_key) as client:
            with pytest.raises(ProviderError) as caught:
                await client.describe_stream_ingest(1400000000, "t")
    assert (caught.value.outcome, caught.value.code) == (Outcome.RETRYABLE, "InvalidResponse")


@pytest.mark.anyio
async def test_aliyun_trickle_is_cut_at_the_deadline_by_the_client() -> None:
    fake = FakeAliyunLive(hang_seconds=10.0)
    fake.trickle_seconds = 0.2
    with fake.serve() as url:
        fake.inject("DescribeLivePullToPush", "trickle")
        async with AliyunLiveClient(
            url, fake.access_key_id, fake.access_key_secret, deadline=0.8
        ) as client:
            started = time.monotonic()
            with pytest.raises(ProviderError) as caught:
                await client.describe_live_pull_to_push("cn-shanghai", "t")
            elapsed = time.monotonic() - started
    assert (caught.value.outcome, caught.value.code) == (Outcome.RETRYABLE, "Deadline")
    assert elapsed < 0.8 + 1.0
    assert client.max_call_seconds == pytest.approx(1.6)


@pytest.mark.anyio
async def test_answer_of_many_megabytes_is_refused_unread() -> None:
    sent = 0

    async def huge() -> AsyncIterator[bytes]:
        nonlocal sent
        chunk = b" " * 65536
        for _ in range(1024):  # 64 MiB if read to the end
            sent += len(chunk)
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=huge())

    async with AliyunLiveClient(
        "https://live.example", "id", "secret", transport=httpx.MockTransport(handler)
    ) as client:
        with pytest.raises(ProviderError) as caught:
            await client.describe_live_pull_to_push("cn-shanghai", "t")
    assert (caught.value.outcome, caught.value.code) == (Outcome.RETRYABLE, "InvalidResponse")
    assert sent <= 2 * 1024 * 1024
