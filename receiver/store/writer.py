"""One writer thread per process with group commit, for either backend.

A durable commit costs one fsync (SQLite) or one WAL flush and round trip (PostgreSQL).
Every write of the process goes through this thread: it takes all operations queued since
its last commit (up to ``max_batch``), runs each inside its own savepoint of one
transaction, and commits once. Each caller's future resolves only after that commit, so
"200 after the durable commit" holds while commits are shared by concurrent callbacks.

Operations of the same *group* (SQLite's callback ingests) are handed to their group's
function together, so it can write all of them with a few multi-row statements instead of
several statements each; every other operation runs inside its own savepoint. When a group
function raises, the transaction is rolled back and the batch runs again with every
operation in its own savepoint, so one bad operation never spoils the others.
A batch that loses a deadlock or serialization race against another replica is rolled back
and run again as a whole; a failed commit answers every caller ``StoreUnavailable``. A batch
whose writes fail for the store's sake (a full disk) sets ``failing`` until one commits.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import structlog

from receiver.store.base import StoreUnavailable

__all__ = ["Group", "GroupWriter", "SqliteWriter", "connect"]

T = TypeVar("T")
log = structlog.get_logger("relaywarden.store")

#: Applies the items of one group in the current transaction; one result per item.
Group = Callable[[Any, Sequence[Any]], Sequence[Any]]

_STOP = object()
#: Prepared statements the SQLite writer keeps: the multi-row statements have one text per
#: row count (up to ``max_batch``), and re-preparing them would cost more than they save.
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
        fn: Callable[[Any], Any] | None,
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

    def run_alone(self, conn: Any) -> Any:
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


class GroupWriter(abc.ABC):
    """Runs write operations on one thread, committing them in groups.

    Subclasses say how a batch gets its connection, how a transaction begins, which
    exceptions are database errors and which of those mean "run the batch again".

    ``after_commit`` runs on the writer thread after every successful commit;
    ``after_rollback`` after anything was rolled back (state the writer's owner keeps about
    the database, such as a cache, must then be dropped).
    """

    begin_sql = "BEGIN"
    #: Database errors: a batch failing with one answers every caller StoreUnavailable.
    errors: tuple[type[Exception], ...] = ()
    #: Attempts for a batch that keeps losing races (deadlock, serialization failure).
    max_attempts = 5
    #: Database errors that are about one operation's data (a broken constraint, a value
    #: out of range), not about the store: they do not make the store "failing".
    operation_errors: tuple[type[Exception], ...] = ()

    def __init__(
        self,
        *,
        name: str,
        max_batch: int = 256,
        after_commit: Callable[[], None] | None = None,
        after_rollback: Callable[[], None] | None = None,
    ) -> None:
        self._name = name
        self._max_batch = max_batch
        self._after_commit = after_commit
        self._after_rollback = after_rollback
        self._running = False  # cheaper to read per operation than Thread.is_alive()
        self._queue: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.operations = 0
        self.retries = 0
        self.failing: str | None = None  # why writes fail (full disk …): for ``/readyz``

    @abc.abstractmethod
    def connection(self) -> AbstractContextManager[Any]:
        """The connection one batch runs on, for the duration of the block."""

    def retryable(self, exc: Exception) -> bool:
        """True when ``exc`` means another transaction won a race: rerun the whole batch."""
        return False

    @abc.abstractmethod
    def close_connection(self) -> None:
        """Release what :meth:`connection` holds, on the writer thread as it ends."""

    def _start_thread(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
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

    async def run(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(connection)`` inside the next group transaction; return after commit."""
        return await self._submit(fn, None, None)  # type: ignore[no-any-return]

    async def run_in_group(self, group: Group, item: Any) -> Any:
        """Apply ``item`` with ``group`` together with the batch's other items of it."""
        return await self._submit(None, group, item)

    async def _submit(self, fn: Callable[[Any], Any] | None, group: Group | None, item: Any) -> Any:
        if not self._running:
            raise StoreUnavailable("the store writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Op(fn, future, loop, group, item))
        return await future

    def _run(self) -> None:
        stopping = False
        try:
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
                self._commit_batch(batch)
        finally:
            self._running = False
            self.close_connection()

    def _rolled_back(self) -> None:
        if self._after_rollback is not None:
            self._after_rollback()

    def _commit_batch(self, batch: list[_Op]) -> None:
        started = time.perf_counter()
        attempt, grouped = 1, True
        while True:
            try:
                outcomes = self._attempt(batch, grouped=grouped)
            except _GroupFailed:
                # A group raised and its transaction was rolled back: redo the batch with
                # every operation in its own savepoint (not counted as a lost race).
                self._rolled_back()
                grouped = False
                continue
            except self.errors as exc:
                self._rolled_back()
                if self.retryable(exc) and attempt < self.max_attempts:
                    attempt += 1
                    self.retries += 1
                    log.info("store_batch_retried", error=str(exc), batch=len(batch))
                    continue
                log.error("store_commit_failed", error=str(exc), batch=len(batch))
                failure = StoreUnavailable(f"the store could not commit: {exc}")
                outcomes = [(op, False, failure) for op in batch]
                break
            if self._after_commit is not None:
                self._after_commit()
            break
        self._note_health(outcomes)
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

    def _note_health(self, outcomes: list[tuple[_Op, bool, Any]]) -> None:
        """Set or clear ``failing`` from a batch's outcomes (a commit that wrote clears it)."""
        faults = [
            value
            for _, ok, value in outcomes
            if not (ok or isinstance(value, self.operation_errors))
            and isinstance(value, (*self.errors, StoreUnavailable))
        ]
        if faults:
            if self.failing is None:
                log.error("store_writes_failing", error=str(faults[0]))
            self.failing = str(faults[0])
        elif self.failing is not None and any(ok for _, ok, _ in outcomes):
            log.info("store_writes_recovered", previous=self.failing)
            self.failing = None

    def _attempt(self, batch: list[_Op], *, grouped: bool) -> list[tuple[_Op, bool, Any]]:
        """One try at the batch, one commit: groups together (when ``grouped``), every
        other operation in its own savepoint.

        The operations of one batch were submitted concurrently (none has been answered),
        so any order of them is one their callers could have seen.
        """
        with self.connection() as conn:
            try:
                conn.execute(self.begin_sql)
                outcomes = self._apply_grouped(conn, batch) if grouped else []
                outcomes.extend(
                    self._apply_alone(conn, op)
                    for op in batch
                    if not (grouped and op.group is not None)
                )
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(*self.errors):
                    conn.execute("ROLLBACK")
                raise
        return outcomes

    def _apply_grouped(self, conn: Any, batch: list[_Op]) -> list[tuple[_Op, bool, Any]]:
        """Each group's items in one call."""
        groups: dict[Group, list[_Op]] = {}
        for op in batch:
            if op.group is not None:
                groups.setdefault(op.group, []).append(op)
        outcomes: list[tuple[_Op, bool, Any]] = []
        for group, ops in groups.items():
            try:
                values = group(conn, [op.item for op in ops])
            except Exception as exc:
                if isinstance(exc, self.errors) and self.retryable(exc):
                    raise
                raise _GroupFailed from exc
            outcomes.extend((op, True, value) for op, value in zip(ops, values, strict=True))
        return outcomes

    def _apply_alone(self, conn: Any, op: _Op) -> tuple[_Op, bool, Any]:
        conn.execute("SAVEPOINT op")
        try:
            value = op.run_alone(conn)
        except Exception as exc:  # one bad operation must not spoil the batch
            if isinstance(exc, self.errors) and self.retryable(exc):
                raise
            try:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
            except self.errors:
                # The database already rolled the whole transaction back (I/O error, lost
                # connection): the batch is lost, report the cause.
                if isinstance(exc, self.errors):
                    raise exc from None
                raise
            self._rolled_back()
            return op, False, exc
        conn.execute("RELEASE op")
        return op, True, value


class SqliteWriter(GroupWriter):
    """The group writer over one SQLite connection kept for the writer's life."""

    begin_sql = "BEGIN IMMEDIATE"
    errors = (sqlite3.Error,)
    operation_errors = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError)

    def __init__(
        self,
        path: str,
        *,
        max_batch: int = 256,
        after_commit: Callable[[], None] | None = None,
        after_rollback: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            name="relaywarden-sqlite-writer",
            max_batch=max_batch,
            after_commit=after_commit,
            after_rollback=after_rollback,
        )
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def start(self, init: Callable[[sqlite3.Connection], Any] | None = None) -> None:
        """Open the connection, run ``init`` (migrations) on it and start the thread."""
        conn = connect(self._path, cached_statements=_WRITER_STATEMENTS)
        if init is not None:
            init(conn)
        self._conn = conn
        self._start_thread()

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The writer's one connection."""
        assert self._conn is not None
        yield self._conn

    def close_connection(self) -> None:
        """Close the connection as the thread ends."""
        if self._conn is not None:
            self._conn.close()
