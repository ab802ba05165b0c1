"""A single SQLite writer thread with group commit.

SQLite allows one writer at a time, and a durable commit costs one fsync. Every write of
the process goes through this thread: it takes all operations queued since its last
commit (up to ``max_batch``), runs them in one transaction and commits once. Each caller's
future resolves only after that commit, so "200 after the durable commit" holds while
fsyncs are shared by concurrent callbacks.

Operations of the same *group* (the callbacks' ingests) are handed to their group's
function together, so it can write all of them with a few multi-row statements instead of
several statements each. Every other operation runs inside its own savepoint. When a group
function raises, the transaction is rolled back and the batch runs again with every
operation in its own savepoint, so one bad operation never spoils the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog

from receiver.store.base import StoreUnavailable

__all__ = ["Group", "SqliteWriter", "connect"]

T = TypeVar("T")
log = structlog.get_logger("relaywarden.store")

#: Applies the items of one group in the current transaction; one result per item.
Group = Callable[[sqlite3.Connection, Sequence[Any]], Sequence[Any]]

_STOP = object()
#: Prepared statements the writer keeps: the multi-row statements have one text per row
#: count (up to ``max_batch``), and re-preparing them would cost more than they save.
_WRITER_STATEMENTS = 1024


def connect(
    path: str, *, readonly: bool = False, cached_statements: int = 128
) -> sqlite3.Connection:
    """Open a connection configured for WAL and durable commits."""
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        timeout=30.0,
        cached_statements=cached_statements,
    )
    conn.execute("PRAGMA busy_timeout = 30000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged callback survives
        # power loss, not only a process crash.
        conn.execute("PRAGMA synchronous = FULL")
        # The writer's own bookkeeping (temporary triggers and flags) never touches a file.
        conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class _Op:
    __slots__ = ("fn", "future", "group", "item", "loop")

    def __init__(
        self,
        fn: Callable[[sqlite3.Connection], Any] | None,
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
        group: Group | None = None,
        item: Any = None,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop
        self.group = group
        self.item = item

    def run_alone(self, conn: sqlite3.Connection) -> Any:
        if self.group is not None:
            return self.group(conn, (self.item,))[0]
        assert self.fn is not None
        return self.fn(conn)


class _GroupFailed(Exception):
    """A group function raised: the batch is redone one operation at a time."""


def _settle(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        if future.done():  # the caller went away (client disconnected)
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class SqliteWriter:
    """Runs write operations on one thread, committing them in groups.

    ``after_commit`` runs on the writer thread after every successful commit;
    ``after_rollback`` after anything was rolled back (state the writer's caller keeps
    about the database, such as a cache, must then be dropped).
    """

    def __init__(
        self,
        path: str,
        *,
        max_batch: int = 256,
        after_commit: Callable[[], None] | None = None,
        after_rollback: Callable[[], None] | None = None,
    ) -> None:
        self._path = path
        self._max_batch = max_batch
        self._after_commit = after_commit
        self._after_rollback = after_rollback
        self._queue: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._running = False  # cheaper to read per operation than Thread.is_alive()
        self.batches = 0
        self.operations = 0

    def start(self, init: Callable[[sqlite3.Connection], Any] | None = None) -> None:
        """Open the connection, run ``init`` (migrations) on it and start the thread."""
        conn = connect(self._path, cached_statements=_WRITER_STATEMENTS)
        if init is not None:
            init(conn)
        self._conn = conn
        self._running = True
        self._thread = threading.Thread(
            target=self._run, name="relaywarden-sqlite-writer", daemon=True
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._running and self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Finish queued operations, then stop the thread and close the connection."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self._thread = None
        # An operation queued while the thread was stopping never ran: fail it, don't hang it.
        stranded: list[_Op] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Op):
                stranded.append(item)
        failure = StoreUnavailable("the store writer stopped; retry later")
        for op in stranded:
            with contextlib.suppress(RuntimeError):
                op.loop.call_soon_threadsafe(_settle, [(op.future, False, failure)])

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` inside the next group transaction; return after commit."""
        return await self._submit(fn, None, None)  # type: ignore[no-any-return]

    async def run_in_group(self, group: Group, item: Any) -> Any:
        """Apply ``item`` with ``group`` together with the batch's other items of it."""
        return await self._submit(None, group, item)

    async def _submit(
        self, fn: Callable[[sqlite3.Connection], Any] | None, group: Group | None, item: Any
    ) -> Any:
        if not self._running:
            raise StoreUnavailable("the store writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Op(fn, future, loop, group, item))
        return await future

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._running = False

    def _serve(self) -> None:
        conn = self._conn
        assert conn is not None
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Op] = [first]  # type: ignore[list-item]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            self._commit_batch(conn, batch)
        conn.close()

    def _rolled_back(self) -> None:
        if self._after_rollback is not None:
            self._after_rollback()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Op]) -> None:
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                outcomes = self._apply_grouped(conn, batch)
            except _GroupFailed:
                conn.execute("ROLLBACK")
                self._rolled_back()
                conn.execute("BEGIN IMMEDIATE")
                outcomes = [self._apply_alone(conn, op) for op in batch]
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("store_commit_failed", error=str(exc), batch=len(batch))
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self._rolled_back()
            failure = StoreUnavailable(f"the store could not commit: {exc}")
            outcomes = [(op, False, failure) for op in batch]
        else:
            if self._after_commit is not None:
                self._after_commit()
        self.batches += 1
        self.operations += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for op, ok, value in outcomes:
            by_loop.setdefault(op.loop, []).append((op.future, ok, value))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, results)
            except RuntimeError:  # loop closed while we committed
                pass
        elapsed = time.perf_counter() - started
        if elapsed > 1.0:
            log.warning("store_slow_commit", seconds=round(elapsed, 3), batch=len(batch))

    def _apply_grouped(
        self, conn: sqlite3.Connection, batch: list[_Op]
    ) -> list[tuple[_Op, bool, Any]]:
        """Each group's items in one call, the other operations in their own savepoints.

        The operations of one batch were submitted concurrently (none has been answered),
        so any order of them is one their callers could have seen.
        """
        groups: dict[Group, list[_Op]] = {}
        alone: list[_Op] = []
        for op in batch:
            if op.group is None:
                alone.append(op)
            else:
                groups.setdefault(op.group, []).append(op)
        outcomes: list[tuple[_Op, bool, Any]] = []
        for group, ops in groups.items():
            try:
                values = group(conn, [op.item for op in ops])
            except Exception as exc:
                raise _GroupFailed from exc
            outcomes.extend((op, True, value) for op, value in zip(ops, values, strict=True))
        outcomes.extend(self._apply_alone(conn, op) for op in alone)
        return outcomes

    def _apply_alone(self, conn: sqlite3.Connection, op: _Op) -> tuple[_Op, bool, Any]:
        conn.execute("SAVEPOINT op")
        try:
            value = op.run_alone(conn)
        except Exception as exc:  # one bad operation must not spoil the batch
            try:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
            except sqlite3.Error:
                # SQLite already rolled the whole transaction back (I/O error, disk
                # full): the batch is lost, report the original error.
                if isinstance(exc, sqlite3.Error):
                    raise exc from None
                raise
            self._rolled_back()
            return op, False, exc
        conn.execute("RELEASE op")
        return op, True, value
