"""The store's self-healing writes on both backends (a real SQLite file, a real PostgreSQL
database): naming awaited ingests through the callback transaction (with the planner),
region lookups, the reconciler's reads, pruning."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from handlers.planner import RulePlanner
from handlers.rules import BUILTIN_RULES
from receiver.domain.plan import JobSpec
from receiver.domain.relay import PullToPushSpec, RelaySpec, TrtcIngestSpec
from receiver.domain.states import IngestState, JobAction, JobState, RelayState
from receiver.events import Event, EventKind, Provider, Source, Status
from receiver.store.base import ClaimedJob, RunResult
from receiver.store.rows import now_ms
from receiver.store.select import AnyStore, build_store

pytestmark = pytest.mark.anyio

APP = 1400000000
INGEST = TrtcIngestSpec(
    SdkAppId=APP, RoomId="r", RoomIdType=0, UserId="u", UserSig="s", StreamUrl="https://x/y"
)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[AnyStore]:
    planner = RulePlanner(BUILTIN_RULES, default_region="cn-shanghai")
    opened = build_store(database_url, planner=planner)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.stop()


def spec(name: str) -> RelaySpec:
    config = PullToPushSpec(
        Region="cn-shanghai",
        SourceType="live",
        SourceUrls=[f"rtmp://src/{name}"],
        DstUrl=f"rtmp://dst/{name}",
        EndTime="2099-01-01T00:00:00Z",
    )
    return RelaySpec(name=name, pull_to_push=config, trtc_ingest=INGEST)


async def claim(store: AnyStore, relay_id: str) -> ClaimedJob:
    await store.enqueue_job(JobSpec(JobAction.START_INGEST, relay_id=relay_id))
    for job in await store.claim_due_jobs(limit=10, lease_ms=60_000):
        if job.relay_id == relay_id and job.action == JobAction.START_INGEST:
            return job
    raise AssertionError("no start_ingest job claimed")


def trtc_event(task_id: str, kind: EventKind, status: Status, at: int) -> Event:
    return Event(
        source=Source.TRTC,
        provider=Provider.TRTC,
        task_id=task_id,
        kind=kind,
        status=status,
        reason="",
        event_time_ms=at,
        provider_status=f"{kind}:{status}",
        raw=b"{}",
        context={"sdk_app_id": str(APP)},
    )


async def active_relay(store: AnyStore, name: str) -> str:
    relay = await store.declare_relay(f"id-{name}", spec(name))
    [create] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    await store.record_new_task(create, relay.id, f"task-{name}")
    await store.finish_job(create, RunResult(JobState.SUCCEEDED))
    return relay.id


async def test_one_awaiting_start_per_sdk_app_and_a_701_names_it(store: AnyStore) -> None:
    first, second = await active_relay(store, "a"), await active_relay(store, "b")
    job_a = await claim(store, first)
    link_a = await store.begin_ingest_start(job_a, first, APP)
    assert link_a is not None
    assert await store.begin_ingest_start(job_a, first, APP) == link_a  # a re-run reuses it
    await store.await_ingest_id(job_a, link_a, "TaskExist", 60)
    job_b = await claim(store, second)
    assert await store.begin_ingest_start(job_b, second, APP) is None  # waits its turn

    result = await store.ingest(trtc_event("ing-1", EventKind.INGEST_START, Status.RUNNING, 1))
    assert result.change is not None and result.change.applied
    named = await store.get_ingest(link_a)
    assert named is not None
    assert (named.task_id, named.state, named.awaiting_since_ms) == (
        "ing-1",
        IngestState.RUNNING,
        None,
    )
    # The bound's check is moot once the id came.
    [check] = [
        j
        for j in await store.list_jobs(state=None, limit=50, cursor=None)
        if j.action == JobAction.AWAIT_INGEST_ID
    ]
    assert check.state is JobState.SKIPPED
    assert await store.give_up_ingest_id(job_a, link_a, "late") is False
    assert await store.begin_ingest_start(job_b, second, APP) is not None


async def test_an_id_that_never_comes_becomes_ingest_unknown(store: AnyStore) -> None:
    relay_id = await active_relay(store, "c")
    job = await claim(store, relay_id)
    link = await store.begin_ingest_start(job, relay_id, APP)
    assert link is not None
    await store.await_ingest_id(job, link, "TaskExist", 60)
    assert await store.give_up_ingest_id(job, link, "no 701 in time") is True
    found = await store.get_ingest(link)
    assert found is not None
    assert (found.state, found.reason, found.task_id) == (
        IngestState.UNKNOWN,
        "no 701 in time",
        None,
    )


async def test_region_found_moves_the_relay_and_the_reconciler_reads_it(
    store: AnyStore,
) -> None:
    relay_id = await active_relay(store, "d")
    link = await store.task_link("task-d")
    assert link is not None and link.region == "cn-shanghai"  # created there
    job = await claim(store, relay_id)
    await store.record_task_region(job, relay_id, "task-d", "cn-beijing")
    relay = await store.get_relay(relay_id)
    assert relay is not None
    assert (relay.region, relay.pull_to_push.Region) == ("cn-beijing", "cn-beijing")
    [target] = await store.reconcile_targets()
    assert (target.relay.id, target.task_region, target.task_status) == (
        relay_id,
        "cn-beijing",
        None,
    )
    assert await store.known_task_ids(["task-d", "other"]) == {"task-d"}


async def test_prune_keeps_state_and_managed_relays_history(store: AnyStore) -> None:
    live = await active_relay(store, "e")
    await store.ingest(
        Event(
            source=Source.ALIYUN_PULL_TO_PUSH,
            provider=Provider.ALIYUN,
            task_id="task-e",
            kind=EventKind.STATUS,
            status=Status.RUNNING,
            reason="",
            event_time_ms=1,
            provider_status="1",
            raw=b"body",
        )
    )
    for n in range(3):  # a task no relay manages (CSS tasks are not adopted)
        await store.ingest(
            Event(
                source=Source.TENCENT_PULL_TO_PUSH,
                provider=Provider.TENCENT,
                task_id="stray",
                kind=EventKind.STATUS,
                status=Status.RUNNING,
                reason="",
                event_time_ms=10 + n,
                provider_status="1",
                raw=b"body",
            )
        )
    await store.quarantine("aliyun_pull_to_push", "x", b"{}", {})
    cutoff = now_ms() + 1000
    first = await store.prune(cutoff, batch=1)
    assert (first["events"], first["unrecognized"], first["jobs"]) == (1, 1, 1), first
    while any((await store.prune(cutoff, batch=1)).values()):
        pass
    stray = await store.get_task("tencent", "stray")
    assert stray is not None and [e.id for e in stray.events] == [stray.task.state_event_id]
    kept = await store.get_task("aliyun", "task-e")
    assert kept is not None and len(kept.events) == 1 and kept.events[0].raw == b""
    relay = await store.get_relay(live)
    assert relay is not None and relay.state is RelayState.ACTIVE
    assert await store.list_unrecognized(limit=10, cursor=None) == []
