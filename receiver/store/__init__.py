"""Durable storage of events, task state, relays, jobs and quarantined callbacks."""

from __future__ import annotations

from receiver.store.base import (
    IngestResult,
    JobSpec,
    Planner,
    StoreUnavailable,
    TaskChange,
    Transaction,
)

__all__ = [
    "IngestResult",
    "JobSpec",
    "Planner",
    "StoreUnavailable",
    "TaskChange",
    "Transaction",
]
