"""The self-healing part of the store interface: regions, awaited ingest ids, the
reconciler's reads and retention. ``receiver.store.base.Store`` includes it.

Both SQL stores implement it with the same SQL (``receiver.store.sql_healing``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from receiver.domain.plan import IngestUpdate
from receiver.domain.records import IngestLink, ReconcileTarget, RelayTaskLink

if TYPE_CHECKING:
    from receiver.store.values import ClaimedJob

__all__ = ["HealingStore"]


class HealingStore(Protocol):
    """What the self-healing actions, the reconciler and retention need of the store."""

    async def task_link(self, task_id: str) -> RelayTaskLink | None:
        """How an Alibaba task belongs to its relay (with its known region), or None."""
        ...

    async def record_task_region(
        self, job: ClaimedJob, relay_id: str, task_id: str, region: str
    ) -> None:
        """Keep the region a task was found in; the relay's own when it is its current task."""
        ...

    async def get_ingest(self, link_id: int) -> IngestLink | None:
        """One ingest link, or None."""
        ...

    async def begin_ingest_start(
        self, job: ClaimedJob, relay_id: str, sdk_app_id: int
    ) -> int | None:
        """The link of a start about to be sent; None while another relay awaits an id."""
        ...

    async def update_ingest(self, job: ClaimedJob, update: IngestUpdate) -> None:
        """Write a change to an ingest link."""
        ...

    async def await_ingest_id(
        self, job: ClaimedJob, link_id: int, reason: str, bound_seconds: float
    ) -> None:
        """Mark a start that answered TaskExist; check for its id after ``bound_seconds``."""
        ...

    async def give_up_ingest_id(self, job: ClaimedJob, link_id: int, reason: str) -> bool:
        """A start still without its TaskId becomes ``ingest_unknown``; False when named."""
        ...

    async def note_task_region(self, task_id: str, region: str) -> None:
        """Keep the region the reconciler found a task in (its relay's, so nothing moves)."""
        ...

    async def reconcile_targets(self) -> list[ReconcileTarget]:
        """Every active relay with its current task's stored status and region, and ingests."""
        ...

    async def known_task_ids(self, task_ids: list[str]) -> set[str]:
        """Which of these Alibaba task ids some relay knows (any generation)."""
        ...

    async def prune(self, older_than_ms: int, *, batch: int) -> dict[str, int]:
        """Delete one batch of old rows of each prunable kind; rows deleted by kind."""
        ...
