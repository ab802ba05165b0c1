"""Durable storage of events, task state, relays, jobs and quarantined callbacks.

``Store`` is the interface; ``receiver.store.sqlite.SqliteStore`` implements it. Every
SQL statement of relaywarden lives in this package.
"""

from __future__ import annotations

from receiver.store.base import (
    BadCursor,
    ClaimedJob,
    Conflict,
    IngestResult,
    JobSpec,
    LeaseLost,
    Plan,
    PlanInput,
    Planner,
    Store,
    StoreUnavailable,
    TaskChange,
)

__all__ = [
    "BadCursor",
    "ClaimedJob",
    "Conflict",
    "IngestResult",
    "JobSpec",
    "LeaseLost",
    "Plan",
    "PlanInput",
    "Planner",
    "Store",
    "StoreUnavailable",
    "TaskChange",
]
