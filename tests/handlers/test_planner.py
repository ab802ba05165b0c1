"""The rule planner inside the callback transaction: which events become which jobs.

Events are real decoded callbacks, committed through ``SqliteStore.ingest`` with the
``RulePlanner`` of ``relaywarden serve``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from handlers.planner import RulePlanner
from handlers.rules import BUILTIN_RULES, parse_rules
from receiver.decoders.aliyun import decode_aliyun_pull_to_push
from receiver.domain.records import JobRecord
from receiver.domain.relay import PullToPushSpec, RecreatePolicy, Relay, TrtcIngestSpec
from receiver.domain.states import RelayOrigin, RelayState
from receiver.events import Event
from receiver.store.relays import attach_task, insert_relay, retire_task, update_relay
from receiver.store.rows import now_ms
from receiver.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

POLICY = {
    "max_attempts": 5,
    "within_seconds": 3600,
    "min_remaining_seconds": 60,
    "base_delay_seconds": 10.0,
    "max_delay_seconds": 300.0,
}


def provider_time(offset_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_seconds))


_clock = [int(time.time()) - 1000]


def event(task_id: str, status: int, reason: str | None = None, **context: str) -> Event:
    """An Alibaba callback for ``task_id`` (status -1: exit), one second after the last."""
    _clock[0] += 1
    body: dict[str, Any] = {"EventTime": str(_clock[0]), "TaskId": task_id}
    if status == -1:
        body.update(Event="LivePullToPushExit", TaskExitReason=reason or "OverEndTime")
    else:
        body.update(Event="LivePullToPushRunning", TaskStatus=status)
        if reason:
            body["TaskInvalidReason"] = reason
    return decode_aliyun_pull_to_push(json.dumps(body).encode(), dict(context))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    planner = RulePlanner(BUILTIN_RULES, default_region="cn-shanghai")
    opened = SqliteStore(str(tmp_path / "planner.db"), planner=planner)
    opened.open()
    try:
        yield opened
    finally:
        opened.close()


async def add_relay(
    store: SqliteStore,
    relay_id: str,
    task_id: str,
    *,
    end_in: float = 7200,
    attempts_ms: list[int] | None = None,
    state: RelayState = RelayState.ACTIVE,
    trtc_ingest: TrtcIngestSpec | None = None,
    **policy: Any,
) -> None:
    def insert(conn: sqlite3.Connection) -> None:
        insert_relay(
            conn,
            Relay(
                id=relay_id,
                name=relay_id,
                state=state,
                origin=RelayOrigin.DECLARED,
                region="cn-shanghai",
                pull_to_push=PullToPushSpec(
                    Region="cn-shanghai",
                    SourceType="live",
                    SourceUrls=["rtmp://src/app/s"],
                    DstUrl=f"rtmp://dst/app/{relay_id}",
                    EndTime=provider_time(end_in),
                ),
                trtc_ingest=trtc_ingest,
                recreate=RecreatePolicy(**{**POLICY, **policy}),
                current_task_id=task_id,
            ),
        )
        if attempts_ms:
            update_relay(conn, relay_id, recreate_attempts=attempts_ms)

    await store.write(insert)


async def jobs(store: SqliteStore) -> list[JobRecord]:
    return sorted(await store.list_jobs(state=None, limit=500, cursor=None), key=lambda j: j.id)


async def relay(store: SqliteStore, relay_id: str) -> Relay:
    found = await store.get_relay(relay_id)
    assert found is not None
    return found


# ----- policy functions ------------------------------------------------------------------


def test_recreate_delay_is_none_first_then_doubles_up_to_the_cap() -> None:
    policy = RecreatePolicy(base_delay_seconds=10, max_delay_seconds=300)
    delays = [policy.delay_seconds(n) for n in range(8)]
    assert delays == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_only_attempts_within_the_window_count() -> None:
    policy = RecreatePolicy(within_seconds=600)
    now = 10_000_000
    attempts = [now - 700_000, now - 600_000, now - 599_999, now - 1000]
    assert policy.recent_attempts(attempts, now) == [now - 599_999, now - 1000]


# ----- recreate planning -----------------------------------------------------------------


@pytest.mark.parametrize(("recent", "delay"), [(0, 0), (1, 10), (2, 20), (3, 40), (7, 300)])
async def test_recreate_delay_grows_with_recent_attempts(
    store: SqliteStore, recent: int, delay: float
) -> None:
    now = now_ms()
    stale = [now - 5_000_000, now - 4_000_000]  # older than within_seconds: not counted
    recent_ms = [now - 1000 * (n + 1) for n in range(recent)]
    await add_relay(store, "r1", "t1", attempts_ms=stale + recent_ms)
    result = await store.ingest(event("t1", 3, "PullStreamFailed"))
    [job] = await jobs(store)
    assert list(result.job_ids) == [job.id]
    assert (job.action, job.relay_id, job.task_id) == ("recreate", "r1", "t1")
    assert job.payload == {"task_id": "t1", "reason": "PullStreamFailed"}
    assert job.due_at_ms - job.created_at_ms == delay * 1000


@pytest.mark.parametrize(
    ("end_in", "planned"), [(-60, False), (30, False), (58, False), (180, True)]
)
async def test_no_recreate_near_end_time(store: SqliteStore, end_in: float, planned: bool) -> None:
    await add_relay(store, "r1", "t1", end_in=end_in)  # min_remaining_seconds = 60
    await store.ingest(event("t1", 3, "UnknownError"))
    assert [j.action for j in await jobs(store)] == (["recreate"] if planned else [])


async def test_events_of_retired_and_old_tasks_are_ignored(store: SqliteStore) -> None:
    await add_relay(store, "r1", "t3")

    def history(conn: sqlite3.Connection) -> None:
        attach_task(conn, "r1", "t1", generation=1)  # an old generation, not deleted by us
        attach_task(conn, "r1", "t2", generation=2)
        retire_task(conn, "t2")  # relaywarden deleted it while re-creating
        update_relay(conn, "r1", generation=3)

    await store.write(history)
    for task_id in ("t1", "t2"):
        for ev in (event(task_id, 1), event(task_id, 3, "PullStreamFailed"), event(task_id, -1)):
            result = await store.ingest(ev)
            assert not result.duplicate and result.job_ids == ()
    assert await jobs(store) == []
    current = await relay(store, "r1")
    assert (current.state, current.current_task_id) == ("active", "t3")

    # Control: the current task's failure is planned.
    await store.ingest(event("t3", 3, "PullStreamFailed"))
    assert [(j.action, j.task_id) for j in await jobs(store)] == [("recreate", "t3")]


async def test_exit_of_the_task_being_recreated_does_not_end_the_relay(
    store: SqliteStore,
) -> None:
    # A recreate job retired t1 and deleted it, and has not recorded the new task yet: t1 is
    # still the relay's current task when the provider's exit callback for it arrives.
    await add_relay(store, "r1", "t1", trtc_ingest=TrtcIngestSpec(SdkAppId=1, UserSig="x"))
    await store.ingest(event("t1", 3, "PullStreamFailed"))
    await store.write(lambda conn: retire_task(conn, "t1"))
    result = await store.ingest(event("t1", -1, "TriggerByUser"))
    assert result.change is not None and result.change.changed
    assert result.job_ids == ()
    assert [j.action for j in await jobs(store)] == ["recreate"]  # no stop_ingest
    assert (await relay(store, "r1")).state == "active"


async def test_operator_stop_unchanged_state_and_inactive_relays_plan_nothing(
    store: SqliteStore,
) -> None:
    await add_relay(store, "r1", "t1")
    await store.ingest(event("t1", 3, "TriggerByUser"))
    await add_relay(store, "r2", "t2")
    await store.ingest(event("t2", 2))
    await store.ingest(event("t2", 2))  # a later event with the same state: no change
    for n, state in enumerate(
        (
            RelayState.FAILED,
            RelayState.ENDED,
            RelayState.DELETING,
            RelayState.DELETED,
            RelayState.PENDING,
        )
    ):
        await add_relay(store, f"x{n}", f"tx{n}", state=state)
        await store.ingest(event(f"tx{n}", 3, "PullStreamFailed"))
    assert await jobs(store) == []
    # A repeated offline with the same reason is no new transition either.
    await store.ingest(event("t2", 3, "PushStreamFailed"))
    await store.ingest(event("t2", 3, "PushStreamFailed"))
    assert [j.action for j in await jobs(store)] == ["recreate"]


async def test_exit_ends_the_relay_and_stops_ingests(store: SqliteStore) -> None:
    await add_relay(store, "r1", "t1")
    await store.ingest(event("t1", -1, "OverEndTime"))
    assert [j.action for j in await jobs(store)] == ["stop_ingest"]
    assert (await relay(store, "r1")).state == "ended"


async def test_start_ingest_only_when_there_is_one_and_on_entering_running(
    store: SqliteStore,
) -> None:
    await add_relay(store, "plain", "t1")
    await add_relay(store, "with-ingest", "t2", trtc_ingest=TrtcIngestSpec(SdkAppId=1, UserSig="x"))
    for ev in (event("t1", 1), event("t2", 1), event("t2", 1), event("t2", 2), event("t2", 1)):
        await store.ingest(ev)
    assert [(j.action, j.relay_id) for j in await jobs(store)] == [
        ("start_ingest", "with-ingest"),
        ("start_ingest", "with-ingest"),  # running again after recovering
    ]


async def test_a_rules_file_changes_what_is_planned(tmp_path: Path) -> None:
    rules = parse_rules(
        '[[rules]]\nname = "x"\nstatus = "offline"\nreasons = ["TriggerByUser"]\n'
        'action = "recreate"\n'
    )
    store = SqliteStore(str(tmp_path / "custom.db"), planner=RulePlanner(rules, default_region="x"))
    store.open()
    try:
        await add_relay(store, "r1", "t1")
        await store.ingest(event("t1", 3, "PullStreamFailed"))
        await store.ingest(event("t1", -1))
        await add_relay(store, "r2", "t2")
        await store.ingest(event("t2", 3, "TriggerByUser"))
        assert [(j.action, j.relay_id) for j in await jobs(store)] == [("recreate", "r2")]
        # No rule mentions the exit, yet the relay whose task exited has ended.
        assert (await relay(store, "r1")).state is RelayState.ENDED
        assert (await relay(store, "r2")).state is RelayState.ACTIVE
    finally:
        store.close()
