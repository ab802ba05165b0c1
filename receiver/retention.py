"""Retention: old rows pruned in small batches, without holding up callbacks.

Every ``RELAYWARDEN_RETENTION_DAYS`` (default 30; 0 keeps everything) old raw bodies are
emptied, and events of relays that are no longer managed, quarantined callbacks and
finished jobs are deleted, one short transaction per batch with a pause between, so the
writer serves callbacks in between. Task and relay state is never pruned.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from receiver import metrics
from receiver.store.base import Store
from receiver.store.rows import now_ms

__all__ = ["Retention"]

log = structlog.get_logger("relaywarden.retention")

_DAY_MS = 86_400_000


class Retention:
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
        self.store = store
        self.days = days
        self.interval = interval_seconds
        self.batch = batch
        self.pause = pause_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        """True while the pruning loop runs."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Prune now, then every ``interval`` seconds."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="relaywarden-retention")

    async def stop(self) -> None:
        """Stop pruning (a batch in progress commits or not, as a whole)."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.prune_once()
            except Exception:  # a busy or failing store: try again next round
                log.exception("retention_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    async def prune_once(self) -> dict[str, int]:
        """Prune everything older than the retention, batch by batch; totals by kind."""
        cutoff = now_ms() - int(self.days * _DAY_MS)
        totals: dict[str, int] = {}
        while not self._stopping.is_set():
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
