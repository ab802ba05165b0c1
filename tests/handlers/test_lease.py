"""The job lease renews while a provider call is in flight (``handlers.lease``): a call
slower than the lease but inside the provider deadline is made once, on both backends."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from handlers.actions import ACTIONS
from handlers.aliyun_client import AliyunLiveClient
from handlers.runner import JobRunner
from handlers.trtc_client import TrtcClient
from receiver.store.select import AnyStore
from tests.fakes.aliyun_live import FakeAliyunLive
from tests.handlers.test_runner import store
from tests.receiver.test_store_lifecycle import SPEC

pytestmark = pytest.mark.anyio
__all__ = ["store"]  # the both-backend store fixture
CREATE = "CreateLivePullToPush"


async def test_a_slow_call_inside_the_deadline_is_never_claimed_twice(store: AnyStore) -> None:
    fake = FakeAliyunLive(qps=None, hang_seconds=5.0)
    fake.answer_delay_seconds = 2.5  # more than two leases of 1 s, inside the 10 s deadline
    with fake.serve() as url:
        aliyun = AliyunLiveClient(url, fake.access_key_id, fake.access_key_secret, deadline=10.0)
        runner = JobRunner(
            store,
            ACTIONS,
            aliyun=aliyun,
            trtc=TrtcClient("http://127.0.0.1:9"),
            callback_url=lambda relay_id, region: f"http://127.0.0.1:9/cb?relay={relay_id}",
            concurrency=4,
            lease_seconds=1.0,
            poll_interval=0.05,
        )
        config = SPEC.pull_to_push
        assert config is not None
        spec = msgspec.structs.replace(
            SPEC, pull_to_push=msgspec.structs.replace(config, SourceProtocol="rtmp")
        )
        relay = await store.declare_relay("slow-create", spec)
        await runner.start()
        try:
            for _ in range(200):
                jobs = await store.list_jobs(state=None, limit=10, cursor=None)
                if jobs and all(j.state in ("succeeded", "dead") for j in jobs):
                    break
                await asyncio.sleep(0.05)
        finally:
            await runner.stop()
    calls = fake.calls_for(CREATE)
    assert len(calls) == 1, [(c.time, c.outcome) for c in calls]
    [job] = [j for j in jobs if j.action == "create_task"]
    assert (job.state, job.attempts) == ("succeeded", 1), job
    kept = await store.get_relay(relay.id)
    assert kept is not None and kept.current_task_id == fake.tasks[0].task_id
