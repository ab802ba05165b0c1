"""The store methods both SQL backends share, over their ``write`` and ``read``.

``SqliteStore`` and ``PgStore`` differ in how a write reaches a transaction (one writer
thread with group commit over a SQLite file, or over a PostgreSQL pool) and in how they
start and stop; what each method does is written once, here and in the relay and job
(``sqlite_jobs``) and self-healing (``sql_healing``) mixins.
"""

from __future__ import annotations

from receiver.domain.adoption import AdoptionLimits
from receiver.domain.plan import Planner
from receiver.domain.records import QuarantinedRecord, TaskDetail, TaskRecord
from receiver.domain.states import Provider, Status
from receiver.events import Event
from receiver.store import queries
from receiver.store.base import Conflict, IngestResult, StoreUnavailable
from receiver.store.events import apply_event
from receiver.store.operator_queries import OperatorQueries
from receiver.store.rows import now_ms
from receiver.store.sql_forwards import SqlForwards
from receiver.store.sql_healing import SqlHealing
from receiver.store.writer import GroupWriter

__all__ = ["SqlStore"]


class SqlStore(SqlHealing, OperatorQueries, SqlForwards):
    """Callbacks, tasks and quarantine (plus relays, jobs, self-healing, operator queries
    and the forwarding outbox from mixins)."""

    planner: Planner | None
    adoption_limits: AdoptionLimits | None
    writer: GroupWriter

    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self.writer.alive

    @property
    def commit_failure(self) -> str | None:
        """Why writes fail now (disk full, read-only); None while they commit."""
        return self.writer.failing

    async def ping(self) -> None:
        """Raise if the database cannot be read."""
        await self.read(lambda conn: conn.execute("SELECT 1").fetchone())

    # callbacks ---------------------------------------------------------------------------
    async def ingest(self, event: Event) -> IngestResult:
        """Append, apply and plan one event in one durable transaction."""
        planner, limits = self.planner, self.adoption_limits
        try:
            return await self.write(
                lambda conn: apply_event(conn, event, planner, now_ms(), limits)
            )
        except Conflict as exc:
            raise StoreUnavailable(f"the store could not record the event: {exc}") from exc

    async def quarantine(
        self, source: str, reason: str, body: bytes, context: dict[str, str]
    ) -> int:
        """Keep an authenticated body that is not a known event; returns its id."""
        return await self.write(
            lambda conn: queries.insert_unrecognized(conn, source, reason, body, context)
        )

    async def callback_token(self, configured: str | None) -> str:
        """The callback token: the configured one, else one generated once and kept."""
        return (await self.callback_tokens(configured, may_create=True)).callback

    # tasks and quarantine ----------------------------------------------------------------
    async def list_tasks(
        self, *, provider: Provider | None, status: Status | None, limit: int, cursor: int | None
    ) -> list[TaskRecord]:
        """Tasks newest first (by first sighting), filtered, ``limit`` rows after ``cursor``."""
        return await self.read(
            lambda conn: queries.list_tasks(
                conn, provider=provider, status=status, limit=limit, cursor=cursor
            )
        )

    async def get_task(self, provider: str, task_id: str) -> TaskDetail | None:
        """One task with its events (provider-time order) and jobs, or None."""
        return await self.read(lambda conn: queries.get_task(conn, provider, task_id))

    async def get_task_page(
        self, provider: str, task_id: str, *, limit: int, after: tuple[int, int] | None
    ) -> TaskDetail | None:
        """One task with at most ``limit`` of its events after ``after``, and its jobs."""
        return await self.read(
            lambda conn: queries.get_task(conn, provider, task_id, limit=limit, after=after)
        )

    async def list_unrecognized(self, *, limit: int, cursor: int | None) -> list[QuarantinedRecord]:
        """Quarantined callbacks, newest first."""
        return await self.read(
            lambda conn: queries.list_unrecognized(conn, limit=limit, cursor=cursor)
        )

    async def get_unrecognized(self, item_id: int) -> QuarantinedRecord | None:
        """One quarantined callback, or None."""
        return await self.read(lambda conn: queries.get_unrecognized(conn, item_id))

    async def mark_replayed(self, item_id: int, result: str) -> None:
        """Record that a quarantined callback was replayed and how that went."""
        await self.write(lambda conn: queries.mark_replayed(conn, item_id, result))
