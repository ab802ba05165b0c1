"""The SQLite store: WAL, one writer thread with group commit, pooled readers."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import structlog

from receiver.events import TERMINAL_STATUSES, Event, Status
from receiver.store.base import IngestResult, JobSpec, Planner, StoreUnavailable, TaskChange
from receiver.store.jobs import enqueue_job
from receiver.store.migrations import migrate
from receiver.store.relays import (
    attach_task,
    create_relay,
    get_relay,
    relay_task,
    update_relay,
)
from receiver.store.rows import now_ms
from receiver.store.rows import rows as _rows
from receiver.store.writer import SqliteWriter, connect

__all__ = ["SqliteStore", "SqliteTransaction", "now_ms"]

T = TypeVar("T")
log = structlog.get_logger("relaywarden.store")


class SqliteTransaction:
    """The callback transaction as rules see it (implements ``store.Transaction``)."""

    def __init__(self, conn: sqlite3.Connection, now: int) -> None:
        self.conn = conn
        self.now_ms = now

    def enqueue_job(self, spec: JobSpec, *, cause_event_id: int | None = None) -> int:
        return enqueue_job(self.conn, spec, now=self.now_ms, cause_event_id=cause_event_id)

    def relay_task(self, provider: str, task_id: str) -> dict[str, Any] | None:
        return relay_task(self.conn, task_id, provider=provider)

    def get_relay(self, relay_id: str) -> dict[str, Any] | None:
        return get_relay(self.conn, relay_id)

    def create_relay(self, **fields: Any) -> dict[str, Any]:
        return create_relay(self.conn, **fields)

    def update_relay(self, relay_id: str, **fields: Any) -> None:
        update_relay(self.conn, relay_id, **fields)

    def attach_task(self, relay_id: str, task_id: str, *, generation: int) -> None:
        attach_task(self.conn, relay_id, task_id, generation=generation)

    def has_ingests(self, relay_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM ingests WHERE relay_id = ? LIMIT 1", (relay_id,))
        return row.fetchone() is not None


def apply_event(
    conn: sqlite3.Connection, event: Event, planner: Planner | None, now: int
) -> IngestResult:
    """Append ``event``, move its task's state if the ordering rule allows, enqueue jobs.

    Runs inside the writer's transaction. A duplicate (same dedupe key) changes nothing.
    """
    order_time = event.event_time_ms if event.event_time_ms is not None else now
    provider = event.provider.value
    row = conn.execute(
        "SELECT status, reason, state_order_time_ms FROM tasks WHERE provider = ? AND task_id = ?",
        (provider, event.task_id),
    ).fetchone()
    previous_status: Status | None = None
    previous_reason: str | None = None
    if row is None:
        applied = True
    else:
        previous_status, previous_reason = Status(row[0]), row[1]
        # Ordering rule: move only to an event not older than the one the state reflects
        # (ties go to the later arrival). A terminal status never moves; a terminal event
        # always lands, since the provider says the task is gone whatever the clocks say.
        applied = previous_status not in TERMINAL_STATUSES and (
            order_time >= row[2] or event.status in TERMINAL_STATUSES
        )
    try:
        cursor = conn.execute(
            "INSERT INTO events (dedupe_key, source, provider, task_id, kind, status, reason, "
            "provider_status, event_time_ms, order_time_ms, received_at_ms, applied, raw) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.dedupe_key,
                event.source.value,
                provider,
                event.task_id,
                event.kind.value,
                event.status.value,
                event.reason,
                event.provider_status,
                event.event_time_ms,
                order_time,
                now,
                int(applied),
                event.raw,
            ),
        )
    except sqlite3.IntegrityError:
        return IngestResult(duplicate=True, event_id=None, change=None)
    event_id = int(cursor.lastrowid or 0)
    if row is None:
        conn.execute(
            "INSERT INTO tasks (provider, task_id, status, reason, state_event_id, "
            "state_order_time_ms, first_seen_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                provider,
                event.task_id,
                event.status.value,
                event.reason,
                event_id,
                order_time,
                now,
                now,
            ),
        )
    elif applied:
        conn.execute(
            "UPDATE tasks SET status = ?, reason = ?, state_event_id = ?, "
            "state_order_time_ms = ?, updated_at_ms = ? WHERE provider = ? AND task_id = ?",
            (
                event.status.value,
                event.reason,
                event_id,
                max(order_time, row[2]),
                now,
                provider,
                event.task_id,
            ),
        )
    change = TaskChange(
        event=event,
        event_id=event_id,
        previous_status=previous_status,
        previous_reason=previous_reason,
        applied=applied,
    )
    job_ids: list[int] = []
    if planner is not None:
        # A failing rule must not cost us the event: its writes are undone, the event and
        # the state change stay, and the failure is logged for the operator.
        conn.execute("SAVEPOINT planner")
        try:
            job_ids = planner(SqliteTransaction(conn, now), change)
        except Exception:
            conn.execute("ROLLBACK TO planner")
            log.exception("rules_failed", provider=event.provider.value, task_id=event.task_id)
        conn.execute("RELEASE planner")
    return IngestResult(duplicate=False, event_id=event_id, change=change, job_ids=tuple(job_ids))


class _Readers:
    """One read connection per worker thread (WAL readers never block the writer)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # opened in another thread: dropped with it
                    pass
            self._all.clear()


class SqliteStore:
    """Everything relaywarden keeps, in one SQLite file."""

    def __init__(self, path: str, *, planner: Planner | None = None, max_batch: int = 256) -> None:
        self.path = path
        self.planner = planner
        self.writer = SqliteWriter(path, max_batch=max_batch)
        self._readers = _Readers(path)

    # lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Create or migrate the schema and start the writer thread."""
        self.writer.start(init=migrate)

    def close(self) -> None:
        """Drain pending writes and close every connection."""
        self.writer.stop()
        self._readers.close()

    @property
    def writer_alive(self) -> bool:
        """True while the writer thread runs."""
        return self.writer.alive

    # generic access ----------------------------------------------------------------------
    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the next group transaction; return after the commit."""
        return await self.writer.run(fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a read connection in a worker thread."""
        return await anyio.to_thread.run_sync(lambda: fn(self._readers.connection()))

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on this thread's read connection (for scrape-time collectors)."""
        return fn(self._readers.connection())

    # callbacks ---------------------------------------------------------------------------
    async def ingest(self, event: Event) -> IngestResult:
        """Append, apply and plan one event in one durable transaction."""
        planner = self.planner
        try:
            return await self.write(lambda conn: apply_event(conn, event, planner, now_ms()))
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store could not record the event: {exc}") from exc

    async def quarantine(
        self, source: str, reason: str, body: bytes, context: dict[str, str]
    ) -> int:
        """Keep an authenticated body that is not a known event; returns its id."""

        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO unrecognized (source, reason, received_at_ms, context, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (source, reason, now_ms(), json.dumps(context), body),
            )
            return int(cursor.lastrowid or 0)

        try:
            return await self.write(insert)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store could not keep the body: {exc}") from exc

    async def callback_token(self, configured: str | None) -> str:
        """The callback token: the configured one, else one generated once and kept."""
        if configured:
            return configured

        def get_or_create(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT value FROM meta WHERE key = 'callback_token'").fetchone()
            if row is not None:
                return str(row[0])
            token = secrets.token_urlsafe(32)
            conn.execute("INSERT INTO meta (key, value) VALUES ('callback_token', ?)", (token,))
            return token

        return await self.write(get_or_create)

    async def ping(self) -> None:
        """Raise if the database cannot be read."""
        await self.read(lambda conn: conn.execute("SELECT 1").fetchone())

    # queries -----------------------------------------------------------------------------
    async def list_tasks(
        self, *, provider: str | None, status: str | None, limit: int, cursor: int | None
    ) -> list[dict[str, Any]]:
        """Tasks newest first (by first sighting), filtered, ``limit`` rows after ``cursor``."""
        clauses: list[str] = []
        params: list[str | int] = []
        if provider:
            clauses.append("provider = ?")
            params.append(provider)
        if status:
            clauses.append("status = ?")
            params.append(status)
        if cursor is not None:
            clauses.append("seq < ?")
            params.append(cursor)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            "SELECT seq, provider, task_id, status, reason, state_event_id, first_seen_ms, "
            f"updated_at_ms FROM tasks {where} ORDER BY seq DESC LIMIT ?"
        )
        params.append(limit)
        return await self.read(lambda conn: _rows(conn.execute(sql, tuple(params))))

    async def get_task(self, provider: str, task_id: str) -> dict[str, Any] | None:
        """One task with its events (provider-time order) and jobs, or None."""

        def load(conn: sqlite3.Connection) -> dict[str, Any] | None:
            rows = _rows(
                conn.execute(
                    "SELECT t.seq, t.provider, t.task_id, t.status, t.reason, t.state_event_id, "
                    "t.first_seen_ms, t.updated_at_ms, rt.relay_id FROM tasks t "
                    "LEFT JOIN relay_tasks rt "
                    "ON rt.provider = t.provider AND rt.task_id = t.task_id "
                    "WHERE t.provider = ? AND t.task_id = ?",
                    (provider, task_id),
                )
            )
            if not rows:
                return None
            task = rows[0]
            task["events"] = _rows(
                conn.execute(
                    "SELECT id, source, kind, status, reason, provider_status, event_time_ms, "
                    "order_time_ms, received_at_ms, applied, raw FROM events "
                    "WHERE provider = ? AND task_id = ? ORDER BY order_time_ms, id",
                    (provider, task_id),
                )
            )
            task["jobs"] = _rows(
                conn.execute(
                    "SELECT id, action, relay_id, state, attempts, due_at_ms, last_error, "
                    "created_at_ms, updated_at_ms FROM jobs "
                    "WHERE provider = ? AND task_id = ? ORDER BY id",
                    (provider, task_id),
                )
            )
            return task

        return await self.read(load)

    async def list_unrecognized(self, *, limit: int, cursor: int | None) -> list[dict[str, Any]]:
        """Quarantined callbacks, newest first."""
        sql = (
            "SELECT id, source, reason, received_at_ms, context, body, replayed_at_ms, "
            "replay_result FROM unrecognized WHERE id < ? ORDER BY id DESC LIMIT ?"
        )
        bound = cursor if cursor is not None else 2**62
        return await self.read(lambda conn: _rows(conn.execute(sql, (bound, limit))))

    async def get_unrecognized(self, item_id: int) -> dict[str, Any] | None:
        """One quarantined callback, or None."""
        rows = await self.read(
            lambda conn: _rows(
                conn.execute(
                    "SELECT id, source, reason, received_at_ms, context, body, replayed_at_ms, "
                    "replay_result FROM unrecognized WHERE id = ?",
                    (item_id,),
                )
            )
        )
        return rows[0] if rows else None

    async def mark_replayed(self, item_id: int, result: str) -> None:
        """Record that a quarantined callback was replayed and how that went."""
        await self.write(
            lambda conn: conn.execute(
                "UPDATE unrecognized SET replayed_at_ms = ?, replay_result = ? WHERE id = ?",
                (now_ms(), result, item_id),
            )
        )

    # scrape-time aggregates --------------------------------------------------------------
    def task_counts(self) -> list[tuple[str, str, int]]:
        """(provider, status, count) for the ``relaywarden_tasks`` gauge."""
        return self.read_sync(
            lambda conn: [
                (str(p), str(s), int(n))
                for p, s, n in conn.execute(
                    "SELECT provider, status, COUNT(*) FROM tasks GROUP BY provider, status"
                )
            ]
        )

    def pending_jobs(self) -> tuple[list[tuple[str, int]], int | None]:
        """Pending job counts by action and the oldest pending job's due time (ms)."""

        def load(conn: sqlite3.Connection) -> tuple[list[tuple[str, int]], int | None]:
            counts = [
                (str(a), int(n))
                for a, n in conn.execute(
                    "SELECT action, COUNT(*) FROM jobs WHERE state IN ('pending', 'running') "
                    "GROUP BY action"
                )
            ]
            oldest = conn.execute(
                "SELECT MIN(created_at_ms) FROM jobs WHERE state IN ('pending', 'running')"
            ).fetchone()[0]
            return counts, (int(oldest) if oldest is not None else None)

        return self.read_sync(load)

    def relay_counts(self) -> list[tuple[str, int]]:
        """(state, count) for the ``relaywarden_relays`` gauge."""
        return self.read_sync(
            lambda conn: [
                (str(state), int(n))
                for state, n in conn.execute("SELECT state, COUNT(*) FROM relays GROUP BY state")
            ]
        )
