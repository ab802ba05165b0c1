"""The SQLite store: WAL, one writer thread with group commit, pooled readers, and
checkpoints in the background (``receiver.store.checkpoint``).

Implements ``receiver.store.base.Store``; what it shares with PostgreSQL lives in
``receiver.store.sql_store`` and its mixins. Callbacks are applied as a
group per commit (``receiver.store.event_batch``) with the writer's cache
(``receiver.store.cache``); a commit that makes a job due sets ``jobs_enqueued``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from receiver.domain.adoption import AdoptionLimits
from receiver.domain.plan import Planner
from receiver.domain.scope import OutOfScope
from receiver.events import Event
from receiver.store import queries
from receiver.store.base import Conflict, IngestResult, StoreUnavailable
from receiver.store.cache import WriterCache
from receiver.store.checkpoint import SAFETY_PAGES, Checkpointer
from receiver.store.event_batch import EventBatch
from receiver.store.forwards import forward_counts
from receiver.store.jobs import watch_enqueues
from receiver.store.migrations import migrate
from receiver.store.rows import now_ms
from receiver.store.sql_store import SqlStore
from receiver.store.writer import SqliteWriter, connect

__all__ = ["SqliteStore"]

T = TypeVar("T")


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


class SqliteStore(SqlStore):
    """Everything relaywarden keeps, in one SQLite file."""

    writer: SqliteWriter

    def __init__(self, path: str, *, planner: Planner | None = None, max_batch: int = 256) -> None:
        self.path = path
        self._cache = cache = WriterCache()
        self._events = EventBatch(planner, cache, AdoptionLimits())
        self.writer = SqliteWriter(
            path, max_batch=max_batch, after_commit=self._committed, after_rollback=cache.clear
        )
        self.checkpointer = Checkpointer(lambda: connect(path), lambda: self.writer.batches)
        self._readers = _Readers(path)
        self._jobs_enqueued = asyncio.Event()
        self._tokens_changed = asyncio.Event()  # one process: its own rotation needs no news
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due_ms: int | None = None  # earliest due time a pending commit enqueued

    @property
    def planner(self) -> Planner | None:
        """The rules applied to task changes inside the callback transaction."""
        return self._events.planner

    @planner.setter
    def planner(self, planner: Planner | None) -> None:
        self._events.planner = planner

    @property
    def adoption_limits(self) -> AdoptionLimits | None:
        """The bounds on adopting tasks from callbacks (``receiver.domain.adoption``)."""
        return self._events.limits

    @adoption_limits.setter
    def adoption_limits(self, limits: AdoptionLimits | None) -> None:
        self._events.limits = limits

    @property
    def jobs_enqueued(self) -> asyncio.Event:
        """Set when a committed write made a job pending (at the time it becomes due)."""
        return self._jobs_enqueued

    @property
    def tokens_changed(self) -> asyncio.Event:
        """Never set: the one process applies its own rotations."""
        return self._tokens_changed

    async def leads_rounds(self) -> bool:
        """Always: one process on one file runs every periodic round."""
        return True

    # lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Create or migrate the schema and start the writer thread."""
        with contextlib.suppress(RuntimeError):  # opened outside a loop: nobody to wake
            self._loop = asyncio.get_running_loop()

        def init(conn: sqlite3.Connection) -> None:
            migrate(conn)
            watch_enqueues(conn, self._enqueued)
            self._cache.watch(conn)
            # Commits leave checkpoints to the checkpointer, up to the safety net.
            conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_PAGES}")

        self.writer.start(init=init)
        self.checkpointer.start()

    def _enqueued(self, due_ms: int) -> None:
        # On the writer thread, inside the transaction: remembered until it commits.
        self._due_ms = due_ms if self._due_ms is None else min(self._due_ms, due_ms)

    def _committed(self) -> None:
        due, self._due_ms = self._due_ms, None
        if due is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to wake
                self._loop.call_soon_threadsafe(self._wake_at, due)

    def _wake_at(self, due_ms: int) -> None:
        delay = (due_ms - now_ms()) / 1000
        if delay <= 0:
            self._jobs_enqueued.set()
        else:
            asyncio.get_running_loop().call_later(delay, self._jobs_enqueued.set)

    def close(self) -> None:
        """Drain pending writes and close every connection."""
        self.checkpointer.stop()
        self.writer.stop()
        self._readers.close()

    async def start(self) -> None:
        """``open``, as the store interface spells it."""
        self.open()

    async def stop(self) -> None:
        """``close``, as the store interface spells it."""
        self.close()

    # access ------------------------------------------------------------------------------
    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the next group transaction; return after the commit.

        A broken constraint becomes ``Conflict``, another database error
        ``StoreUnavailable``; other exceptions pass unchanged.
        """
        try:
            return await self.writer.run(fn)
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from exc
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store could not commit: {exc}") from exc

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a read connection in a worker thread."""
        return await anyio.to_thread.run_sync(lambda: fn(self._readers.connection()))

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on this thread's read connection (for scrape-time collectors)."""
        return fn(self._readers.connection())

    # callbacks ---------------------------------------------------------------------------
    async def ingest(self, event: Event) -> IngestResult:
        """Append, apply and plan one event in one durable transaction.

        SQLite's writer applies the callbacks of one group commit together
        (``EventBatch``); PostgreSQL keeps the shared one-event transaction.
        """
        try:
            result: IngestResult | OutOfScope = await self.writer.run_in_group(
                self._events, (event, now_ms())
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store could not record the event: {exc}") from exc
        if isinstance(result, OutOfScope):
            raise result
        return result

    # scrape-time aggregates --------------------------------------------------------------
    def task_counts(self) -> list[tuple[str, str, int]]:
        """(provider, status, count) for the ``relaywarden_tasks`` gauge."""
        return self.read_sync(queries.task_counts)

    def pending_jobs(self) -> tuple[list[tuple[str, int]], int | None]:
        """Pending job counts by action and the oldest pending job's due time (ms)."""
        return self.read_sync(queries.pending_jobs)

    def relay_counts(self) -> list[tuple[str, int]]:
        """(state, count) for the ``relaywarden_relays`` gauge."""
        return self.read_sync(queries.relay_counts)

    def forward_counts(self) -> list[tuple[str, int]]:
        """(state, count) of undelivered forwards, for the forward gauges."""
        return self.read_sync(forward_counts)

    def dead_jobs(self) -> int:
        """Dead jobs, for their gauge."""
        return self.read_sync(queries.dead_jobs)

    def relays_not_running(self) -> int:
        """Relays kept alive whose task is not running, for their gauge."""
        return self.read_sync(queries.relays_not_running)
