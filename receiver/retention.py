"""Retention: old rows pruned in small batches, without holding up callbacks.

Every ``RELAYWARDEN_RETENTION_DAYS`` (default 30; 0 keeps everything) old raw bodies are
emptied, and events of relays that are no longer managed, quarantined callbacks and
finished jobs are deleted, one short transaction per batch with a pause between, so the
writer serves callbacks in between. Task and relay state is never pruned. Replicas on one
PostgreSQL database prune from the leading one only (``Store.leads_rounds``).
"""

from __future__ import annotations

import asyncio

import structlog

from receiver import metrics
from receiver.periodic import PeriodicService
from receiver.store.base import Store
from receiver.store.rows import now_ms

__all__ = ["Retention"]

log = structlog.get_logger("relaywarden.retention")

_DAY_MS = 86_400_000


class Retention(PeriodicService):
    """A background service of ``relaywarden serve``."""

    name = "retention"

    def __init__(
        self,
        store: Store,
        *,
        days: float,
        interval_seconds: float = 3600.0,
        batch: int = 500,
        pause_seconds: float = 0.05,
    ) -> None:
        super().__init__(interval_seconds, first_at_start=True, leader=store.leads_rounds)
        self.store = store
        self.days = days
        self.batch = batch
        self.pause = pause_seconds

    async def run_once(self) -> dict[str, int]:
        """One round: prune everything past the retention."""
        return await self.prune_once()

    async def prune_once(self) -> dict[str, int]:
        """Prune everything older than the retention, batch by batch; totals by kind."""
        cutoff = now_ms() - int(self.days * _DAY_MS)
        totals: dict[str, int] = {}
        while True:
            counts = await self.store.prune(cutoff, batch=self.batch)
            for kind, count in counts.items():
                totals[kind] = totals.get(kind, 0) + count
                if count:
                    metrics.pruned_rows_total.labels(kind).inc(count)
            if not any(counts.values()):
                break
            await asyncio.sleep(self.pause)  # let callbacks commit between batches
        if any(totals.values()):
            log.info("pruned", **totals)
        return totals
