"""The events part of the store interface: callbacks, tasks, quarantine, searches and the
callback token. ``receiver.store.base.Store`` includes it.
"""

from __future__ import annotations

from typing import Protocol

from receiver.domain.records import FoundEvent, QuarantinedRecord, TaskDetail, TaskRecord
from receiver.domain.states import Provider, Status
from receiver.events import Event
from receiver.store.values import CallbackTokens, EventQuery, IngestResult

__all__ = ["EventStore"]


class EventStore(Protocol):
    """What the callback routes, the task and event views and the token commands need."""

    # callbacks ---------------------------------------------------------------------------
    async def ingest(self, event: Event) -> IngestResult:
        """Append, order, plan and apply one event in one durable transaction."""
        ...

    async def quarantine(
        self, source: str, reason: str, body: bytes, context: dict[str, str]
    ) -> int:
        """Keep an authenticated body that is not a known event; returns its id."""
        ...

    async def callback_token(self, configured: str | None) -> str:
        """The callback token: the configured one, else one generated once and kept."""
        ...

    # tasks and quarantine ----------------------------------------------------------------
    async def list_tasks(
        self, *, provider: Provider | None, status: Status | None, limit: int, cursor: int | None
    ) -> list[TaskRecord]:
        """Tasks newest first (by first sighting), ``limit`` after ``cursor`` (a ``seq``)."""
        ...

    async def get_task(self, provider: str, task_id: str) -> TaskDetail | None:
        """One task with its events and jobs, or None."""
        ...

    async def list_unrecognized(self, *, limit: int, cursor: int | None) -> list[QuarantinedRecord]:
        """Quarantined callbacks, newest first."""
        ...

    async def get_unrecognized(self, item_id: int) -> QuarantinedRecord | None:
        """One quarantined callback, or None."""
        ...

    async def mark_replayed(self, item_id: int, result: str) -> None:
        """Record that a quarantined callback was replayed and how that went."""
        ...

    # searches and the callback token -----------------------------------------------------
    async def search_events(
        self, query: EventQuery, *, limit: int, cursor: int | None
    ) -> list[FoundEvent]:
        """Stored events matching ``query``, newest (highest id) first, ids below ``cursor``."""
        ...

    async def get_event(self, event_id: int) -> FoundEvent | None:
        """One stored event, or None."""
        ...

    async def callback_tokens(self, configured: str | None, *, may_create: bool) -> CallbackTokens:
        """The configured or stored callback token; creates one when none is stored.

        Creating is refused (``TokenRefused``) when ``may_create`` is False and the store
        already holds relays or events.
        """
        ...

    async def rotate_callback_token(self) -> CallbackTokens:
        """Store a new callback token; the per-relay key stays (it is kept on first rotation).

        On PostgreSQL the commit notifies every replica (``tokens_changed``).
        """
        ...

    async def save_orphans(self, blob: str) -> None:
        """Keep the last orphan sweep (an ``OrphanList`` as JSON), replacing the one before."""
        ...

    async def load_orphans(self) -> str | None:
        """The last orphan sweep kept by any replica (JSON), or None before the first."""
        ...

    # scrape-time aggregate (sync: the Prometheus collector runs in a thread) -------------
    def task_counts(self) -> list[tuple[str, str, int]]:
        """(provider, status, count) of tasks."""
        ...
