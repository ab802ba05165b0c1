"""The store on both backends (a real SQLite file, a real PostgreSQL database): ingest rules,
group commit, quarantine, counts; and SQLite's own schema and durability settings."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from receiver.events import Event, EventKind, Provider, Source, Status
from receiver.store.base import StoreUnavailable
from receiver.store.dialect import Db
from receiver.store.migrations import MIGRATIONS
from receiver.store.select import AnyStore, build_store
from receiver.store.sqlite import SqliteStore
from tests.support.database import refresh_aggregates

pytestmark = pytest.mark.anyio


def event(
    task_id: str,
    status: Status,
    time_ms: int | None,
    *,
    reason: str = "",
    kind: EventKind = EventKind.STATUS,
) -> Event:
    return Event(
        source=Source.ALIYUN_PULL_TO_PUSH,
        provider=Provider.ALIYUN,
        task_id=task_id,
        kind=kind,
        status=status,
        reason=reason,
        event_time_ms=time_ms,
        provider_status=status.value,
        raw=f"{task_id}:{status}:{time_ms}".encode(),
    )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[AnyStore]:
    opened = build_store(database_url)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.stop()


async def test_schema_is_migrated_once_and_durable_settings_hold(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    for _ in range(2):  # the second open finds the schema current and changes nothing
        store = SqliteStore(str(path))
        store.open()
        await store.ingest(event("t", Status.RUNNING, 1))
        store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (1,)
    conn.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this relaywarden"):
        SqliteStore(str(path)).open()


async def test_callback_token_is_generated_once_and_kept(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    store = SqliteStore(path)
    store.open()
    first = await store.callback_token(None)
    assert len(first) >= 32
    assert await store.callback_token(None) == first
    assert await store.callback_token("configured") == "configured"
    store.close()
    store = SqliteStore(path)
    store.open()
    assert await store.callback_token(None) == first
    store.close()


async def test_ingest_duplicate_ordering_and_terminal(store: AnyStore) -> None:
    first = await store.ingest(event("t", Status.RUNNING, 1000))
    assert not first.duplicate and first.change is not None
    assert first.change.applied and first.change.changed
    assert first.change.previous_status is None

    again = await store.ingest(event("t", Status.RUNNING, 1000))
    assert again.duplicate and again.event_id is None and again.change is None

    older = await store.ingest(event("t", Status.OFFLINE, 500, reason="PullStreamFailed"))
    assert older.change is not None and not older.change.applied and not older.change.changed

    same_time = await store.ingest(event("t", Status.RECOVERING, 1000))
    assert same_time.change is not None and same_time.change.applied  # tie: later arrival

    exited = await store.ingest(event("t", Status.EXITED, 900, kind=EventKind.EXIT))
    assert exited.change is not None and exited.change.applied  # terminal always lands
    assert exited.change.previous_status is Status.RECOVERING

    revived = await store.ingest(event("t", Status.RUNNING, 5000))
    assert revived.change is not None and not revived.change.applied

    task = await store.get_task("aliyun", "t")
    assert task is not None
    assert task.task.status is Status.EXITED
    assert task.task.state_event_id == exited.event_id
    times = [e.order_time_ms for e in task.events]
    assert times == sorted(times) and len(times) == 5


async def test_events_without_provider_time_order_by_arrival(store: AnyStore) -> None:
    await store.ingest(event("t", Status.RUNNING, None))
    await asyncio.sleep(0.005)
    second = await store.ingest(event("t", Status.RECOVERING, None))
    assert second.change is not None and second.change.applied


async def test_group_commit_batches_concurrent_writes(store: AnyStore) -> None:
    writer = store.writer
    batches, operations = writer.batches, writer.operations
    results = await asyncio.gather(
        *(store.ingest(event(f"g{n}", Status.RUNNING, n)) for n in range(200))
    )
    assert all(not r.duplicate for r in results)
    assert writer.operations - operations == 200
    assert writer.batches - batches < 200 / 4


async def test_one_failing_operation_does_not_spoil_its_batch(store: AnyStore) -> None:
    def boom(conn: Db) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('half', 'written')")
        raise ValueError("boom")

    outcomes = await asyncio.gather(
        store.ingest(event("a", Status.RUNNING, 1)),
        store.write(boom),
        store.ingest(event("b", Status.RUNNING, 1)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ValueError)
    assert await store.get_task("aliyun", "a") is not None
    assert await store.get_task("aliyun", "b") is not None
    rows = await store.read(lambda c: c.execute("SELECT * FROM meta WHERE key='half'").fetchall())
    assert rows == []  # the failed operation's own writes were rolled back


async def test_stopped_writer_is_unavailable(store: AnyStore) -> None:
    store.writer.stop()
    assert not store.alive
    with pytest.raises(StoreUnavailable):
        await store.ingest(event("t", Status.RUNNING, 1))
    with pytest.raises(StoreUnavailable):
        await store.quarantine("trtc", "x", b"{}", {})


async def test_quarantine_keeps_bytes_exactly(store: AnyStore) -> None:
    body = b"\x00\xff not json \n\t"
    item = await store.quarantine("aliyun_pull_to_push", "why", body, {"region": "cn-beijing"})
    row = await store.get_unrecognized(item)
    assert row is not None
    assert (row.body, row.reason, row.source) == (body, "why", "aliyun_pull_to_push")
    await store.mark_replayed(item, "accepted")
    [listed] = await store.list_unrecognized(limit=10, cursor=None)
    assert listed.replay_result == "accepted" and listed.replayed_at_ms is not None


async def test_task_counts_and_list_cursor(store: AnyStore) -> None:
    for n in range(5):
        await store.ingest(event(f"t{n}", Status.RUNNING if n % 2 else Status.OFFLINE, n))
    refresh_aggregates(store)
    assert sorted(store.task_counts()) == [("aliyun", "offline", 3), ("aliyun", "running", 2)]
    page = await store.list_tasks(provider=None, status=None, limit=2, cursor=None)
    assert [r.task_id for r in page] == ["t4", "t3"]
    rest = await store.list_tasks(provider=None, status=None, limit=10, cursor=page[-1].seq)
    assert [r.task_id for r in rest] == ["t2", "t1", "t0"]


async def test_an_operation_queued_while_the_writer_stops_fails_instead_of_hanging(
    tmp_path: Path,
) -> None:
    from receiver.store import writer as writer_module

    store = SqliteStore(str(tmp_path / "stopping.db"))
    store.open()
    writer = store.writer
    # The thread has taken its stop marker, but a caller got past the ``alive`` check.
    writer._queue.put(writer_module._STOP)
    assert writer._thread is not None
    writer._thread.join(timeout=10)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    writer._queue.put(writer_module._Op(lambda conn: 1, future, loop))
    store.close()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(future, timeout=5)


async def test_the_writer_cache_follows_writes_it_did_not_make(
    sqlite_store: SqliteStore,
) -> None:
    store = sqlite_store
    first = await store.ingest(event("c", Status.RUNNING, 10))
    assert first.change is not None and first.change.applied
    # Another operation of the writer ends the task behind the callback transaction's back.
    await store.write(
        lambda conn: conn.execute("UPDATE tasks SET status = 'exited' WHERE task_id = 'c'")
    )
    later = await store.ingest(event("c", Status.RECOVERING, 20))
    assert later.change is not None and not later.change.applied  # a terminal state holds
    assert later.change.previous_status is Status.EXITED
    # Event ids continue after rows another operation added, never reusing one.
    await store.write(
        lambda conn: conn.execute(
            "INSERT INTO events (id, dedupe_key, source, provider, task_id, kind, status, "
            "reason, provider_status, order_time_ms, received_at_ms, applied, raw) VALUES "
            "(1000, 'k', 's', 'aliyun', 'x', 'status', 'running', '', '1', 0, 0, 0, x'00')"
        )
    )
    after = await store.ingest(event("d", Status.RUNNING, 30))
    assert after.event_id == 1001


async def test_the_writer_cache_is_dropped_with_a_failed_batch(store: AnyStore) -> None:
    def half_then_fail(conn: Db) -> None:
        conn.execute("DELETE FROM tasks WHERE task_id = 'e'")
        raise ValueError("boom")

    await store.ingest(event("e", Status.RUNNING, 10))
    outcomes = await asyncio.gather(
        store.ingest(event("e", Status.OFFLINE, 20)),
        store.write(half_then_fail),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ValueError)
    task = await store.get_task("aliyun", "e")
    assert task is not None and task.task.status is Status.OFFLINE
    third = await store.ingest(event("e", Status.RUNNING, 30))
    assert third.change is not None and third.change.previous_status is Status.OFFLINE
