"""The SQLite store: WAL, one writer thread with group commit, pooled readers.

Implements ``receiver.store.base.Store``; what it shares with PostgreSQL lives in
``receiver.store.sql_store`` and ``receiver.store.sqlite_jobs``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from receiver.store import queries
from receiver.store.base import Conflict, Planner, StoreUnavailable
from receiver.store.migrations import migrate
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

    async def start(self) -> None:
        """``open``, as the store interface spells it."""
        self.open()

    async def stop(self) -> None:
        """``close``, as the store interface spells it."""
        self.close()

    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self.writer.alive

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
