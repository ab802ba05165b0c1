"""The PostgreSQL store: several ``relaywarden serve`` replicas on one database.

Implements ``receiver.store.base.Store`` with the same SQL functions as SQLite (see
``receiver.store.dialect``). Writes of a replica go through one group-commit writer thread
holding a pooled connection per batch; reads run on pooled connections in worker threads.
Around that sit what only a shared database needs: migrations under an advisory lock, a
``LISTEN`` connection waking the job runner and reloading a rotated callback token, the
leader (metrics and periodic rounds), and the provider rate-slot log (an async pool, used
by the provider clients' shared limiters).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from receiver.domain.adoption import AdoptionLimits
from receiver.store.base import Conflict, Planner, StoreUnavailable
from receiver.store.dialect import Db, PgConnection
from receiver.store.migrations import migrate_postgres
from receiver.store.postgres.aggregates import AggregateRefresher
from receiver.store.postgres.listener import JobListener
from receiver.store.postgres.rate_slots import PgRateSlots
from receiver.store.postgres.writer import PgWriter
from receiver.store.sql_store import SqlStore

__all__ = ["PgStore", "migrate_url"]

T = TypeVar("T")
log = structlog.get_logger("relaywarden.store")


def migrate_url(url: str) -> tuple[int, int]:
    """Migrate the database at ``url``; returns the schema version before and after."""
    with psycopg.connect(url, autocommit=True) as conn:
        return migrate_postgres(conn)


class PgStore(SqlStore):
    """Everything relaywarden keeps, in one PostgreSQL database shared by replicas."""

    writer: PgWriter

    def __init__(
        self,
        url: str,
        *,
        planner: Planner | None = None,
        max_batch: int = 256,
        pool_size: int = 8,
        metrics_interval: float = 5.0,
    ) -> None:
        self.url = url
        self.planner = planner
        self.adoption_limits: AdoptionLimits | None = AdoptionLimits()
        self._pool = ConnectionPool(
            url,
            min_size=2,
            max_size=pool_size,
            kwargs={"autocommit": True},
            open=False,
            name="relaywarden",
        )
        self._async_pool = AsyncConnectionPool(
            url, min_size=1, max_size=4, open=False, name="relaywarden-rate-slots"
        )
        self.writer = PgWriter(self._pool, max_batch=max_batch)
        self.listener = JobListener(url)
        self.aggregates = AggregateRefresher(url, interval=metrics_interval)
        self.rate_slots = PgRateSlots(self._async_pool)
        self._started = False

    @property
    def jobs_enqueued(self) -> asyncio.Event:
        """Set when any replica commits an enqueue (its ``NOTIFY``, heard by the listener)."""
        return self.listener.enqueued

    @property
    def tokens_changed(self) -> asyncio.Event:
        """Set when any replica commits a token rotation (or the listener reconnected)."""
        return self.listener.tokens_changed

    async def leads_rounds(self) -> bool:
        """True when this replica holds the leader lock (taken now if free)."""
        return await anyio.to_thread.run_sync(self.aggregates.confirm_leader)

    async def start(self) -> None:
        """Migrate (when behind), open the pools and start writer, listener and metrics."""
        try:
            before, after = await anyio.to_thread.run_sync(migrate_url, self.url)
            await anyio.to_thread.run_sync(lambda: self._pool.open(wait=True, timeout=30))
            await self._async_pool.open(wait=True, timeout=30)
        except psycopg.Error as exc:  # PoolTimeout included
            raise StoreUnavailable(f"cannot open the PostgreSQL store: {exc}") from exc
        if after != before:
            log.info("schema_migrated", before=before, after=after)
        self.writer.start()
        await self.listener.start()
        await anyio.to_thread.run_sync(self.aggregates.start)
        self._started = True

    async def stop(self) -> None:
        """Drain pending writes, then close listener, metrics connection and pools."""
        if not self._started:
            return
        self._started = False
        await anyio.to_thread.run_sync(self.writer.stop)
        await self.listener.stop()
        await anyio.to_thread.run_sync(self.aggregates.stop)
        await self._async_pool.close()
        await anyio.to_thread.run_sync(self._pool.close)

    # access ------------------------------------------------------------------------------
    async def write(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` in this replica's next group transaction; return after the commit."""
        try:
            return await self.writer.run(fn)
        except psycopg.errors.IntegrityError as exc:
            raise Conflict(str(exc)) from exc
        except psycopg.Error as exc:
            raise StoreUnavailable(f"the store could not commit: {exc}") from exc

    async def read(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` on a pooled connection in a worker thread."""

        def run() -> T:
            with self._pool.connection(timeout=5.0) as raw:
                return fn(PgConnection(raw))

        try:
            return await anyio.to_thread.run_sync(run)
        except psycopg.Error as exc:  # PoolTimeout included
            raise StoreUnavailable(f"the store could not be read: {exc}") from exc

    # scrape-time aggregates (from the metrics leader's last refresh) ---------------------
    def task_counts(self) -> list[tuple[str, str, int]]:
        """(provider, status, count) of tasks; raises AggregatesElsewhere unless leader."""
        return self.aggregates.latest().task_counts

    def pending_jobs(self) -> tuple[list[tuple[str, int]], int | None]:
        """Unfinished jobs by action and the oldest one's creation time (leader only)."""
        return self.aggregates.latest().pending_jobs

    def relay_counts(self) -> list[tuple[str, int]]:
        """(state, count) of relays (leader only)."""
        return self.aggregates.latest().relay_counts

    def forward_counts(self) -> list[tuple[str, int]]:
        """(state, count) of undelivered forwards (leader only)."""
        return self.aggregates.latest().forward_counts

    def dead_jobs(self) -> int:
        """Dead jobs (leader only)."""
        return self.aggregates.latest().dead_jobs

    def relays_not_running(self) -> int:
        """Relays kept alive whose task is not running (leader only)."""
        return self.aggregates.latest().relays_not_running
