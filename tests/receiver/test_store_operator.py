"""The store's operator queries: event search with its indexes, job counts per relay, bulk
retry of dead jobs, declarations by name, the callback token and migration 5.

The store tests run on both backends (``database_url``); index plans are SQLite's."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from receiver.domain.destinations import DestinationSpec, OssLiveChannelSpec
from receiver.domain.records import FoundEvent
from receiver.domain.relay import RecreatePolicy, RelaySpec
from receiver.domain.states import EventKind, JobAction, JobState, Provider, Source, Status
from receiver.events import Event
from receiver.store.base import Conflict, DeclareOutcome, EventQuery, RunResult, TokenRefused
from receiver.store.migrations import MIGRATIONS, migrate, migrate_postgres, postgres_sql
from receiver.store.select import AnyStore
from tests.receiver.test_store_lifecycle import SPEC
from tests.receiver.test_store_sqlite import event, store

pytestmark = pytest.mark.anyio
__all__ = ["store"]  # the fixture, shared with the store tests: both backends


def trtc_event(task_id: str, time_ms: int) -> Event:
    return Event(
        source=Source.TRTC,
        provider=Provider.TRTC,
        task_id=task_id,
        kind=EventKind.INGEST_START,
        status=Status.RUNNING,
        reason="",
        event_time_ms=time_ms,
        provider_status="701",
        raw=b"{}",
    )


async def ids(store: AnyStore, query: EventQuery, **page: int) -> list[int]:
    found: list[FoundEvent] = await store.search_events(
        query, limit=page.get("limit", 100), cursor=page.get("cursor")
    )
    return [e.id for e in found]


async def test_search_events_filters_and_pages(store: AnyStore) -> None:
    await store.declare_relay("r1", SPEC)
    [job] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    await store.record_new_task(job, "r1", "t1")
    await store.add_ingest(job, "r1", 1400000000, "ingest-1")
    first = (await store.ingest(event("t1", Status.RUNNING, 1000))).event_id
    other = (await store.ingest(event("t2", Status.RUNNING, 1000))).event_id
    trtc = (await store.ingest(trtc_event("ingest-1", 1500))).event_id
    exit_ = (await store.ingest(event("t1", Status.EXITED, 2000, kind=EventKind.EXIT))).event_id
    assert None not in (first, other, trtc, exit_)

    assert await ids(store, EventQuery()) == [exit_, trtc, other, first]
    assert await ids(store, EventQuery(relay_id="r1")) == [exit_, trtc, first]
    assert await ids(store, EventQuery(relay_id="nobody")) == []
    assert await ids(store, EventQuery(provider=Provider.TRTC)) == [trtc]
    assert await ids(store, EventQuery(task_id="t1", kind="exit")) == [exit_]
    page = await ids(store, EventQuery(), limit=2)
    assert page == [exit_, trtc]
    assert await ids(store, EventQuery(), limit=2, cursor=page[-1]) == [other, first]
    found = await store.get_event(trtc or 0)
    assert found is not None and (found.provider, found.task_id) == (Provider.TRTC, "ingest-1")
    everything = await store.search_events(EventQuery(), limit=10, cursor=None)
    received = sorted(e.received_at_ms for e in everything)
    window = EventQuery(since_ms=received[0], until_ms=received[-1] + 1)
    assert len(await ids(store, window)) == 4
    assert await ids(store, EventQuery(since_ms=received[-1] + 1)) == []


def test_event_searches_use_indexes(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "plan.db")) as conn:
        conn.isolation_level = None
        migrate(conn)
        for where, index in (
            ("received_at_ms >= 1 AND received_at_ms < 2", "events_by_received"),
            ("kind = 'exit'", "events_by_kind"),
            ("provider = 'aliyun' AND task_id = 't'", "events_by_task"),
        ):
            plan = conn.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM events WHERE {where} ORDER BY id DESC"
            ).fetchall()
            assert any(index in str(row) for row in plan), (where, plan)
        plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE relay_id = 'r'").fetchall()
        assert any("jobs_by_relay" in str(row) for row in plan)


async def test_job_counts_jobs_of_relay_and_bulk_retry(store: AnyStore) -> None:
    for relay_id, name in (("r1", "one"), ("r2", "two")):
        await store.declare_relay(
            relay_id, SPEC.__class__(name=name, pull_to_push=SPEC.pull_to_push)
        )
    for job in await store.claim_due_jobs(limit=10, lease_ms=60_000):
        await store.finish_job(job, RunResult(JobState.DEAD, "InvalidParameter"))
    counts = await store.job_counts_by_relay(["r1", "r2", "r3"])
    assert counts == {"r1": {JobState.DEAD: 1}, "r2": {JobState.DEAD: 1}}
    [record] = await store.jobs_of_relay("r1", limit=10)
    assert record.action == JobAction.CREATE_TASK

    assert await store.retry_dead_jobs(relay_id="r3", action=None, limit=10) == []
    assert await store.retry_dead_jobs(relay_id=None, action="delete_task", limit=10) == []
    [retried] = await store.retry_dead_jobs(relay_id="r1", action=None, limit=10)
    assert (retried.relay_id, retried.state) == ("r1", JobState.PENDING)
    rest = await store.retry_dead_jobs(relay_id=None, action="create_task", limit=10)
    assert [j.relay_id for j in rest] == ["r2"]
    assert (await store.get_relay("r2")).failure_reason is None  # type: ignore[union-attr]


async def test_put_relay_outcomes(store: AnyStore) -> None:
    created, outcome = await store.put_relay("r1", SPEC)
    assert outcome is DeclareOutcome.CREATED and created.id == "r1"
    same, outcome = await store.put_relay("ignored", SPEC)
    assert outcome is DeclareOutcome.UNCHANGED and same.id == "r1"
    stricter = SPEC.__class__(
        name=SPEC.name, pull_to_push=SPEC.pull_to_push, recreate=RecreatePolicy(max_attempts=1)
    )
    updated, outcome = await store.put_relay("ignored", stricter)
    assert outcome is DeclareOutcome.UPDATED and updated.recreate.max_attempts == 1
    with pytest.raises(Conflict):
        await store.declare_relay("r2", SPEC)
    recorded = SPEC.__class__(
        name=SPEC.name,
        pull_to_push=SPEC.pull_to_push,
        destination=DestinationSpec(OssLiveChannelSpec(Bucket="rec", ChannelName="c")),
    )
    with pytest.raises(Conflict, match="destination"):
        await store.put_relay("ignored", recorded)
    kept, outcome = await store.put_relay("r3", SPEC.__class__(name="kept", **_parts(recorded)))
    assert outcome is DeclareOutcome.CREATED and kept.destination == recorded.destination
    _, outcome = await store.put_relay("x", SPEC.__class__(name="kept", **_parts(recorded)))
    assert outcome is DeclareOutcome.UNCHANGED


def _parts(spec: RelaySpec) -> dict[str, Any]:
    return {"pull_to_push": spec.pull_to_push, "destination": spec.destination}


async def test_callback_tokens(store: AnyStore) -> None:
    assert (await store.callback_tokens("configured", may_create=False)).callback == "configured"
    await store.ingest(event("t1", Status.RUNNING, 1000))
    with pytest.raises(TokenRefused):
        await store.callback_tokens(None, may_create=False)
    made = await store.callback_tokens(None, may_create=True)
    assert made.created and made.relay_key == made.callback
    kept = await store.callback_tokens(None, may_create=False)
    assert (kept.callback, kept.created) == (made.callback, False)
    rotated = await store.rotate_callback_token()
    assert rotated.callback != made.callback and rotated.relay_key == made.callback
    again = await store.rotate_callback_token()
    assert again.relay_key == made.callback  # the per-relay key survives every rotation


def test_migration_5_renames_live_duplicates(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "old.db")) as conn:
        conn.isolation_level = None
        for number, migration in enumerate(MIGRATIONS[:4], start=1):
            conn.executescript(migration.sql)
            conn.execute(f"PRAGMA user_version = {number}")
        for relay_id, state in (("a", "active"), ("b", "active"), ("c", "deleted")):
            conn.execute(
                "INSERT INTO relays (id, name, state, origin, region, pull_to_push, recreate, "
                "created_at_ms, updated_at_ms) VALUES (?, 'same', ?, 'callback', 'r', '{}', "
                "'{}', 0, 0)",
                (relay_id, state),
            )
        assert migrate(conn) == len(MIGRATIONS)
        names = dict(conn.execute("SELECT id, name FROM relays").fetchall())
    assert names == {"a": "same", "b": "same-b", "c": "same"}


def test_migration_5_renames_live_duplicates_on_postgres(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for migration in MIGRATIONS[:4]:
            for statement in postgres_sql(migration).split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (4)")
        for relay_id, state in (("a", "active"), ("b", "active"), ("c", "deleted")):
            conn.execute(
                "INSERT INTO relays (id, name, state, origin, region, pull_to_push, recreate, "
                "created_at_ms, updated_at_ms) VALUES (%s, 'same', %s, 'callback', 'r', '{}', "
                "'{}', 0, 0)",
                (relay_id, state),
            )
        assert migrate_postgres(conn) == (4, len(MIGRATIONS))
        names: dict[str, str] = dict(conn.execute("SELECT id, name FROM relays").fetchall())
    assert names == {"a": "same", "b": "same-b", "c": "same"}
