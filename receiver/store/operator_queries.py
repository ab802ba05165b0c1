"""The operator methods of the SQL stores (a mixin of ``SqlStore``, both backends):
declarations by name, job counts and bulk retries, event search, the callback token and
the last orphan sweep."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import TypeVar

from receiver.domain.records import FoundEvent, JobRecord
from receiver.domain.relay import Relay, RelaySpec
from receiver.domain.states import JobState
from receiver.store import declarations, event_search, jobs, queries
from receiver.store.base import CallbackTokens, DeclareOutcome, EventQuery
from receiver.store.dialect import Db

__all__ = ["OperatorQueries"]

T = TypeVar("T")


class OperatorQueries(abc.ABC):
    """What the operator's API asks beyond single relays and jobs, over ``write``/``read``."""

    @abc.abstractmethod
    async def write(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` in the next write transaction (the store's ``write``)."""

    @abc.abstractmethod
    async def read(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` on a read connection (the store's ``read``)."""

    async def put_relay(self, relay_id: str, spec: RelaySpec) -> tuple[Relay, DeclareOutcome]:
        """Create, update or leave unchanged the relay named ``spec.name``."""
        return await self.write(lambda conn: declarations.put_relay(conn, relay_id, spec))

    async def jobs_of_relay(self, relay_id: str, *, limit: int) -> list[JobRecord]:
        """A relay's jobs, newest first."""
        return await self.read(lambda conn: jobs.jobs_of_relay(conn, relay_id, limit=limit))

    async def job_counts_by_relay(self, relay_ids: Sequence[str]) -> dict[str, dict[JobState, int]]:
        """Job counts per state of each relay given."""
        return await self.read(lambda conn: jobs.job_counts_by_relay(conn, list(relay_ids)))

    async def retry_dead_jobs(
        self, *, relay_id: str | None, action: str | None, limit: int
    ) -> list[JobRecord]:
        """Retry up to ``limit`` dead jobs, oldest first, in one transaction."""
        return await self.write(
            lambda conn: jobs.retry_dead_jobs(conn, relay_id=relay_id, action=action, limit=limit)
        )

    async def search_events(
        self, query: EventQuery, *, limit: int, cursor: int | None
    ) -> list[FoundEvent]:
        """Stored events matching ``query``, newest first."""
        return await self.read(
            lambda conn: event_search.search_events(conn, query, limit=limit, cursor=cursor)
        )

    async def get_event(self, event_id: int) -> FoundEvent | None:
        """One stored event, or None."""
        return await self.read(lambda conn: event_search.get_event(conn, event_id))

    async def callback_tokens(self, configured: str | None, *, may_create: bool) -> CallbackTokens:
        """The configured or stored callback token (raises ``TokenRefused``)."""
        return await self.write(
            lambda conn: queries.callback_tokens(conn, configured, may_create=may_create)
        )

    async def rotate_callback_token(self) -> CallbackTokens:
        """Store a new callback token; per-relay tokens stay valid."""
        return await self.write(queries.rotate_callback_token)

    async def save_orphans(self, blob: str) -> None:
        """Keep the last orphan sweep (an ``OrphanList`` as JSON) for every replica."""
        await self.write(lambda conn: queries.save_orphans(conn, blob))

    async def load_orphans(self) -> str | None:
        """The last orphan sweep any replica kept (JSON), or None before the first."""
        return await self.read(queries.load_orphans)
