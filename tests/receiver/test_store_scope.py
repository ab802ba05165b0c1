"""Callback scope in the store, on both backends (both write paths): a per-relay token covers
its relay's tasks, and an unlinked task only while the relay awaits its task id."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from receiver.domain.scope import OutOfScope, relay_may_speak_for
from receiver.domain.states import JobState, Status
from receiver.events import Event
from receiver.store.base import IngestResult, RunResult
from receiver.store.select import AnyStore
from tests.receiver.test_store_lifecycle import SPEC
from tests.receiver.test_store_sqlite import event, store

pytestmark = pytest.mark.anyio
__all__ = ["store"]


def scoped(task_id: str, relay_id: str, time_ms: int, status: Status = Status.RUNNING) -> Event:
    return msgspec.structs.replace(event(task_id, status, time_ms), scope_relay=relay_id)


async def counts(store: AnyStore) -> tuple[int, int, int]:
    def read(conn: object) -> tuple[int, int, int]:
        execute = conn.execute  # type: ignore[attr-defined]
        return (
            int(execute("SELECT count(*) FROM events").fetchone()[0]),
            int(execute("SELECT count(*) FROM tasks").fetchone()[0]),
            int(execute("SELECT count(*) FROM unrecognized").fetchone()[0]),
        )

    return await store.read(read)


async def relay_with_task(store: AnyStore, relay_id: str, task_id: str) -> None:
    await store.declare_relay(relay_id, msgspec.structs.replace(SPEC, name=relay_id))
    [job] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    await store.record_new_task(job, relay_id, task_id)


def test_the_rule() -> None:
    assert relay_may_speak_for("a", "a", awaiting_id=False)
    assert not relay_may_speak_for("a", "b", awaiting_id=True)
    assert relay_may_speak_for("a", None, awaiting_id=True)
    assert not relay_may_speak_for("a", None, awaiting_id=False)


async def test_a_relay_token_covers_its_own_task_only(store: AnyStore) -> None:
    await relay_with_task(store, "ra", "task-a")
    await relay_with_task(store, "rb", "task-b")
    before = await counts(store)
    with pytest.raises(OutOfScope):
        await store.ingest(scoped("task-b", "ra", 1000, Status.EXITED))
    with pytest.raises(OutOfScope):  # an unlinked task, ra not waiting for an id
        await store.ingest(scoped("task-nobody", "ra", 1000))
    assert await counts(store) == before
    assert (await store.get_task("aliyun", "task-b")) is None
    own = await store.ingest(scoped("task-a", "ra", 1000))
    assert not own.duplicate and own.event_id is not None
    # The main token (no scope) keeps full authority.
    main = await store.ingest(event("task-b", Status.RUNNING, 1000))
    assert main.event_id is not None


async def test_a_replayed_out_of_scope_duplicate_is_still_refused(store: AnyStore) -> None:
    await relay_with_task(store, "ra", "task-a")
    await relay_with_task(store, "rb", "task-b")
    await store.ingest(event("task-b", Status.RUNNING, 1000))
    with pytest.raises(OutOfScope):
        await store.ingest(scoped("task-b", "ra", 1000))


async def test_an_unlinked_task_is_covered_while_its_create_awaits_the_id(
    store: AnyStore,
) -> None:
    await store.declare_relay("rc", msgspec.structs.replace(SPEC, name="rc"))
    [job] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    with pytest.raises(OutOfScope):  # claimed, but Create not sent yet
        await store.ingest(scoped("task-new", "rc", 1000))
    await store.mark_create_sent(job)
    accepted = await store.ingest(scoped("task-new", "rc", 1000))
    assert accepted.event_id is not None
    await store.record_new_task(job, "rc", "task-new")
    await store.finish_job(job, RunResult(JobState.SUCCEEDED))
    # Its Create answered: another unlinked task is no longer the relay's to report.
    with pytest.raises(OutOfScope):
        await store.ingest(scoped("task-other", "rc", 1000))


async def test_one_refused_item_does_not_fail_the_others_of_a_batch(store: AnyStore) -> None:
    await relay_with_task(store, "ra", "task-a")
    await relay_with_task(store, "rb", "task-b")
    items = [scoped("task-a", "ra", 1000 + i) for i in range(5)]
    items.insert(2, scoped("task-b", "ra", 5000, Status.EXITED))
    outcomes = await asyncio.gather(*(store.ingest(e) for e in items), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, OutOfScope)]
    accepted = [o for o in outcomes if isinstance(o, IngestResult)]
    assert len(refused) == 1 and refused[0].task_id == "task-b"
    assert len(accepted) == 5 and all(o.event_id is not None for o in accepted)
    task_b = await store.get_task("aliyun", "task-b")
    assert task_b is None or task_b.task.status is not Status.EXITED
