"""The relay lifecycle in the store: no planner at all, yet relays end and fail.

A store without rules (``planner=None``) still ends a relay whose current task exits and
fails one whose create job is dead, in the same transaction as the cause.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from receiver.domain.relay import AdoptSpec, PullToPushSpec, RelaySpec
from receiver.domain.states import EventKind, JobAction, JobState, RelayState, Status
from receiver.store.base import LeaseLost, RunResult
from receiver.store.sqlite import SqliteStore
from tests.receiver.test_store_sqlite import event

pytestmark = pytest.mark.anyio

SPEC = RelaySpec(
    name="match",
    pull_to_push=PullToPushSpec(
        Region="cn-shanghai",
        SourceType="live",
        SourceUrls=["rtmp://src/app/s"],
        DstUrl="rtmp://dst/app/s",
        EndTime="2099-01-01T00:00:00Z",
    ),
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(str(tmp_path / "lifecycle.db"), planner=None)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.stop()


async def test_a_relay_ends_when_its_current_task_exits_without_any_rule(
    store: SqliteStore,
) -> None:
    relay = await store.declare_relay("r1", SPEC)
    [job] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    assert (job.action, job.relay_id) == (JobAction.CREATE_TASK, "r1")
    assert await store.record_new_task(job, relay.id, "t1") == 1
    await store.ingest(event("t1", Status.RUNNING, 1000))
    assert (await store.get_relay("r1")).state is RelayState.ACTIVE  # type: ignore[union-attr]

    await store.ingest(event("t1", Status.EXITED, 2000, kind=EventKind.EXIT))
    assert (await store.get_relay("r1")).state is RelayState.ENDED  # type: ignore[union-attr]


async def test_the_exit_of_an_old_or_retired_task_does_not_end_the_relay(
    store: SqliteStore,
) -> None:
    await store.declare_relay("r1", SPEC)
    [job] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    await store.record_new_task(job, "r1", "t1")
    await store.retire_task(job, "t1")  # relaywarden deletes it while re-creating
    await store.ingest(event("t1", Status.EXITED, 2000, kind=EventKind.EXIT))
    assert (await store.get_relay("r1")).state is RelayState.ACTIVE  # type: ignore[union-attr]
    await store.record_new_task(job, "r1", "t2")
    await store.ingest(event("t0", Status.EXITED, 3000, kind=EventKind.EXIT))  # not linked
    relay = await store.get_relay("r1")
    assert relay is not None
    assert (relay.state, relay.current_task_id, relay.generation) == (RelayState.ACTIVE, "t2", 2)


async def test_a_dead_adopt_job_fails_the_relay_with_the_jobs_reason(store: SqliteStore) -> None:
    spec = RelaySpec(name="ghost", adopt=AdoptSpec(Region="cn-shanghai", TaskId="no-such"))
    await store.declare_relay("r1", spec)
    [job] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    assert job.payload == {"task_id": "no-such", "region": "cn-shanghai"}
    await store.finish_job(job, RunResult(JobState.DEAD, "CodeTaskNotExist: no such task"))
    relay = await store.get_relay("r1")
    assert relay is not None and relay.state is RelayState.FAILED
    assert relay.failure_reason is not None
    assert "adopt_task" in relay.failure_reason and "CodeTaskNotExist" in relay.failure_reason
    # The finished run holds no lease any more: a late write of it is refused.
    with pytest.raises(LeaseLost):
        await store.record_new_task(job, "r1", "t9")


async def test_a_retried_job_does_not_fail_the_relay(store: SqliteStore) -> None:
    await store.declare_relay("r1", SPEC)
    [job] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    await store.finish_job(job, RunResult(JobState.PENDING, "InternalError"))
    relay = await store.get_relay("r1")
    assert relay is not None and relay.state is RelayState.PENDING
