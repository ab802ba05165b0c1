"""Keeping a job's lease while its action runs.

A job is claimed with a lease (``RELAYWARDEN_JOB_LEASE_SECONDS``); a worker that dies
leaves the job to be claimed again when the lease runs out. An action that is alive but
slow (a provider answering inside its deadline, a throttled queue of calls) must not look
dead: ``renewing_lease`` extends the lease every third of its length while the action runs,
so the same job is never claimed, and a provider never called, twice at once. Renewal stops
after ``max_run_seconds``: a run still going then is presumed stuck, and its job is claimed
again once the lease runs out (its own fenced writes are refused from then on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from receiver.store.base import ClaimedJob, LeaseLost, Store, StoreUnavailable

__all__ = ["renewing_lease"]

log = structlog.get_logger("relaywarden.jobs")


async def _renew(store: Store, job: ClaimedJob, interval: float, max_run_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + max_run_seconds
    while True:
        await asyncio.sleep(interval)
        if loop.time() >= stop_at:
            log.warning("job_lease_renewal_stopped", job_id=job.id, action=job.action)
            return
        try:
            await store.extend_lease(job)
        except LeaseLost:
            # Another worker has the job: this run's fenced writes will fail on their own.
            log.warning("job_lease_lost_while_running", job_id=job.id, action=job.action)
            return
        except StoreUnavailable as error:
            # Try again at the next tick; the lease still has two thirds left.
            log.warning("job_lease_renewal_failed", job_id=job.id, error=str(error))


@contextlib.asynccontextmanager
async def renewing_lease(
    store: Store, job: ClaimedJob, max_run_seconds: float
) -> AsyncIterator[None]:
    """Extend ``job``'s lease every third of ``job.lease_ms`` until the block ends (or
    ``max_run_seconds`` have passed)."""
    interval = max(job.lease_ms / 3000, 0.05)
    renewer = asyncio.create_task(
        _renew(store, job, interval, max_run_seconds), name=f"lease-{job.id}"
    )
    try:
        yield
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
