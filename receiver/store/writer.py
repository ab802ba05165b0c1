"""One writer thread per process with group commit, for either backend.

A durable commit costs one fsync (SQLite) or one WAL flush and round trip (PostgreSQL).
Every write of the process goes through this thread: it takes all operations queued since
its last commit (up to ``max_batch``), runs each inside its own savepoint of one
transaction, and commits once. Each caller's future resolves only after that commit, so
"200 after the durable commit" holds while commits are shared by concurrent callbacks.
A batch that loses a deadlock or serialization race against another replica is rolled back
and run again as a whole; a failed commit answers every caller ``StoreUnavailable``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import structlog

from receiver.store.base import StoreUnavailable

__all__ = ["GroupWriter", "SqliteWriter", "connect"]

T = TypeVar("T")
log = structlog.get_logger("relaywarden.store")

_STOP = object()


def connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection configured for WAL and durable commits."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged callback survives
        # power loss, not only a process crash.
        conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class _Op:
    __slots__ = ("fn", "future", "loop")

    def __init__(
        self,
        fn: Callable[[Any], Any],
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop


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
    """

    begin_sql = "BEGIN"
    #: Database errors: a batch failing with one answers every caller StoreUnavailable.
    errors: tuple[type[Exception], ...] = ()
    #: Attempts for a batch that keeps losing races (deadlock, serialization failure).
    max_attempts = 5

    def __init__(self, *, name: str, max_batch: int = 256) -> None:
        self._name = name
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.operations = 0
        self.retries = 0

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
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread is not None and self._thread.is_alive()

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
        if not self.alive:
            raise StoreUnavailable("the store writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Op(fn, future, loop))
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
            self.close_connection()

    def _commit_batch(self, batch: list[_Op]) -> None:
        started = time.perf_counter()
        for attempt in range(1, self.max_attempts + 1):
            try:
                outcomes = self._attempt(batch)
                break
            except self.errors as exc:
                if self.retryable(exc) and attempt < self.max_attempts:
                    self.retries += 1
                    log.info("store_batch_retried", error=str(exc), batch=len(batch))
                    continue
                log.error("store_commit_failed", error=str(exc), batch=len(batch))
                failure = StoreUnavailable(f"the store could not commit: {exc}")
                outcomes = [(op, False, failure) for op in batch]
                break
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

    def _attempt(self, batch: list[_Op]) -> list[tuple[_Op, bool, Any]]:
        """One try at the batch: every operation in its savepoint, one commit."""
        outcomes: list[tuple[_Op, bool, Any]] = []
        with self.connection() as conn:
            try:
                conn.execute(self.begin_sql)
                for op in batch:
                    conn.execute("SAVEPOINT op")
                    try:
                        value = op.fn(conn)
                    except Exception as exc:  # one bad operation must not spoil the group
                        if isinstance(exc, self.errors) and self.retryable(exc):
                            raise
                        try:
                            conn.execute("ROLLBACK TO op")
                            conn.execute("RELEASE op")
                        except self.errors:
                            # The database already rolled the whole transaction back (I/O
                            # error, lost connection): the batch is lost, report the cause.
                            if isinstance(exc, self.errors):
                                raise exc from None
                            raise
                        outcomes.append((op, False, exc))
                    else:
                        conn.execute("RELEASE op")
                        outcomes.append((op, True, value))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(*self.errors):
                    conn.execute("ROLLBACK")
                raise
        return outcomes


class SqliteWriter(GroupWriter):
    """The group writer over one SQLite connection kept for the writer's life."""

    begin_sql = "BEGIN IMMEDIATE"
    errors = (sqlite3.Error,)

    def __init__(self, path: str, *, max_batch: int = 256) -> None:
        super().__init__(name="relaywarden-sqlite-writer", max_batch=max_batch)
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def start(self, init: Callable[[sqlite3.Connection], Any] | None = None) -> None:
        """Open the connection, run ``init`` (migrations) on it and start the thread."""
        conn = connect(self._path)
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
