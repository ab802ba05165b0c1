"""The jobs part of the store interface: the outbox, claims with leases, and the job views.
``receiver.store.base.Store`` includes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from receiver.domain.plan import JobSpec
from receiver.domain.records import JobRecord
from receiver.domain.states import JobState
from receiver.store.values import ClaimedJob, RunResult

__all__ = ["JobStore"]


class JobStore(Protocol):
    """What the job runner, the job API and the bulk retry command need of the outbox."""

    async def enqueue_job(self, spec: JobSpec) -> int:
        """Add a pending job to the outbox; returns its id."""
        ...

    async def claim_due_jobs(
        self, *, limit: int, lease_ms: int, now: int | None = None
    ) -> list[ClaimedJob]:
        """Claim due jobs (pending and due, or running with an expired lease), one per relay."""
        ...

    async def finish_job(self, job: ClaimedJob, result: RunResult) -> None:
        """Record a run's outcome; a dead create/recreate/adopt job fails its relay."""
        ...

    async def extend_lease(self, job: ClaimedJob) -> None:
        """Check the fence and extend the lease (raises LeaseLost)."""
        ...

    async def list_jobs(
        self, *, state: JobState | None, limit: int, cursor: int | None
    ) -> list[JobRecord]:
        """Jobs newest first, optionally in one state."""
        ...

    async def get_job(self, job_id: int) -> JobRecord | None:
        """One job, or None."""
        ...

    async def jobs_of_relay(self, relay_id: str, *, limit: int) -> list[JobRecord]:
        """A relay's jobs, newest first."""
        ...

    async def job_counts_by_relay(self, relay_ids: Sequence[str]) -> dict[str, dict[JobState, int]]:
        """Job counts per state of each relay given (relays without jobs are left out)."""
        ...

    async def retry_dead_job(self, job_id: int) -> JobRecord | None:
        """A dead job back to pending, due now, fresh attempts; None when no dead job."""
        ...

    async def retry_dead_jobs(
        self, *, relay_id: str | None, action: str | None, limit: int
    ) -> list[JobRecord]:
        """``retry_dead_job`` for up to ``limit`` dead jobs (oldest first), filtered."""
        ...

    # scrape-time aggregate (sync: the Prometheus collector runs in a thread) -------------
    def pending_jobs(self) -> tuple[list[tuple[str, int]], int | None]:
        """Unfinished job counts by action and the oldest one's creation time (ms)."""
        ...
