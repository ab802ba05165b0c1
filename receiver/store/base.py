"""The store interface: everything relaywarden keeps, behind one typed, async boundary.

The SQLite store implements it today; a PostgreSQL store will implement the same. Routes,
the job runner and the actions see only this interface and the domain types, never a
connection or a query. Writes an action makes while it runs a job are named methods that
take the ``ClaimedJob`` and check its fence first, raising ``LeaseLost`` when another
claim has happened since.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from receiver.domain.plan import JobSpec, Plan, PlanInput, Planner, TaskChange
from receiver.store.action_interface import ActionStore
from receiver.store.event_interface import EventStore
from receiver.store.forward_interface import ForwardStore
from receiver.store.gauges_interface import GaugeStore
from receiver.store.healing_interface import HealingStore
from receiver.store.job_interface import JobStore
from receiver.store.relay_interface import RelayStore
from receiver.store.values import (
    AggregatesElsewhere,
    BadCursor,
    CallbackTokens,
    ClaimedJob,
    Conflict,
    DeclareOutcome,
    EventQuery,
    IngestResult,
    LeaseLost,
    RunResult,
    StoreUnavailable,
    TokenRefused,
)

__all__ = [
    "AggregatesElsewhere",
    "BadCursor",
    "CallbackTokens",
    "ClaimedJob",
    "Conflict",
    "DeclareOutcome",
    "EventQuery",
    "IngestResult",
    "JobSpec",
    "LeaseLost",
    "Plan",
    "PlanInput",
    "Planner",
    "RunResult",
    "Store",
    "StoreUnavailable",
    "TaskChange",
    "TokenRefused",
]


class Store(
    EventStore, RelayStore, JobStore, ActionStore, HealingStore, ForwardStore, GaugeStore, Protocol
):
    """Events, tasks, relays, jobs, quarantine and the process lock, as one interface.

    Each part lives in a module of its own (``event_interface``, ``relay_interface``,
    ``job_interface``, ``action_interface``, ``healing_interface``, ``forward_interface``,
    ``gauges_interface``); this adds the lifecycle.
    """

    @property
    def alive(self) -> bool:
        """True while the store can take writes (its writer runs, its pool is open)."""
        ...

    @property
    def jobs_enqueued(self) -> asyncio.Event:
        """Set once a committed write made a job pending (when it is due, if later).

        The job runner waits on it next to its poll timer and clears it before each claim,
        so a job is claimed as soon as it can run rather than at the next poll.
        """
        ...

    @property
    def tokens_changed(self) -> asyncio.Event:
        """Set when another process may have rotated the callback token (reload it).

        PostgreSQL: a rotation's ``NOTIFY`` (and every (re)connect of the listener, which
        may have missed one). SQLite has one process, which applies its own rotation: never.
        """
        ...

    async def leads_rounds(self) -> bool:
        """True when this process runs the periodic rounds (reconciler, retention).

        PostgreSQL: only the replica holding the leader advisory lock (the metrics
        leader's); SQLite: always (one process).
        """
        ...

    async def start(self) -> None:
        """Create or migrate the schema and get ready for work."""
        ...

    async def stop(self) -> None:
        """Finish pending writes and release every connection."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot be read."""
        ...
