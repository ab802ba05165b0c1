"""Scrape-time gauges for operators beyond the core ones of ``receiver.store.base.Store``
(which includes this): the forward backlog, dead jobs and the relays that are not running.

On SQLite they are read at scrape time; on PostgreSQL they come from the metrics leader's
last refresh (``receiver.store.postgres.aggregates``) and raise ``AggregatesElsewhere`` on
the other replicas, so a sum over replicas counts them once.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["GaugeStore"]


class GaugeStore(Protocol):
    """What the ``relaywarden_forward_*``, ``relaywarden_jobs_dead`` and
    ``relaywarden_relays_not_running`` gauges read."""

    def forward_counts(self) -> list[tuple[str, int]]:
        """(state, count) of the forwards not delivered yet."""
        ...

    def dead_jobs(self) -> int:
        """Jobs that failed for the last time and wait for an operator's retry."""
        ...

    def relays_not_running(self) -> int:
        """Relays relaywarden keeps alive (pending or active) whose task is not running."""
        ...
