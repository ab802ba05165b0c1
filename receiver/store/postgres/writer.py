"""The group-commit writer over a PostgreSQL pool (one connection per replica's batch)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg_pool import ConnectionPool

from receiver.store.dialect import PgConnection
from receiver.store.writer import GroupWriter

__all__ = ["PgWriter"]


class PgWriter(GroupWriter):
    """Every write of this replica, batched into one transaction per round trip.

    Another replica's batch may hold a row or advisory lock this batch needs; PostgreSQL
    then makes one wait, or, when both wait on each other, aborts one with a deadlock
    error. Such a batch is rolled back and run again whole (``retryable``).
    """

    errors = (psycopg.Error,)
    operation_errors = (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError)

    def __init__(self, pool: ConnectionPool, *, max_batch: int = 256) -> None:
        super().__init__(name="relaywarden-pg-writer", max_batch=max_batch)
        self._pool = pool

    def start(self) -> None:
        """Start the writer thread (the pool is opened by the store)."""
        self._start_thread()

    @contextlib.contextmanager
    def connection(self) -> Iterator[PgConnection]:
        """A pooled connection (autocommit: the writer issues BEGIN and COMMIT itself)."""
        # Fail fast when the database is unreachable: callers answer 503 and providers
        # retry, rather than holding callbacks open for the pool's default 30 s.
        with self._pool.connection(timeout=5.0) as raw:
            yield PgConnection(raw)

    def retryable(self, exc: Exception) -> bool:
        """Deadlocks and serialization failures: another replica won; run the batch again."""
        # SQLSTATE class 40 (transaction rollback): 40001 serialization failure, 40P01
        # deadlock detected. psycopg files the latter under OperationalError, so match codes.
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return sqlstate.startswith("40")

    def close_connection(self) -> None:
        """Nothing held between batches: the pool owns the connections."""
