"""Store-neutral types: what a callback transaction produces and what rules may do in it.

The SQLite store implements these today; a PostgreSQL store will implement the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from receiver.events import Event, Status

__all__ = [
    "IngestResult",
    "JobSpec",
    "Planner",
    "StoreUnavailable",
    "TaskChange",
    "Transaction",
]


class StoreUnavailable(Exception):
    """The store could not commit; callers answer 503 so the provider retries."""


@dataclass(frozen=True, slots=True)
class TaskChange:
    """How one new event related to its task's state, inside the callback transaction."""

    event: Event
    event_id: int
    previous_status: Status | None
    previous_reason: str | None
    applied: bool
    """True when the task's state now reflects this event."""

    @property
    def changed(self) -> bool:
        """True when the state moved to a different status or reason."""
        return self.applied and (
            self.previous_status != self.event.status or self.previous_reason != self.event.reason
        )


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A follow-up job to enqueue in the outbox."""

    action: str
    relay_id: str | None = None
    provider: str | None = None
    task_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What the callback transaction did; available only after it committed."""

    duplicate: bool
    event_id: int | None
    change: TaskChange | None
    job_ids: tuple[int, ...] = ()


class Transaction(Protocol):
    """What rules can read and write inside a callback's transaction."""

    now_ms: int

    def enqueue_job(self, spec: JobSpec, *, cause_event_id: int | None = None) -> int:
        """Add a pending job to the outbox; returns its id."""
        ...

    def relay_task(self, provider: str, task_id: str) -> dict[str, Any] | None:
        """How a task belongs to its relay (relay_id, generation, retired_by_us), or None."""
        ...

    def get_relay(self, relay_id: str) -> dict[str, Any] | None:
        """One relay as a row dict (JSON columns decoded), or None."""
        ...

    def create_relay(self, **fields: Any) -> dict[str, Any]:
        """Insert a relay and return it (see ``store.relays.create_relay`` for the fields)."""
        ...

    def update_relay(self, relay_id: str, **fields: Any) -> None:
        """Set columns of a relay."""
        ...

    def attach_task(self, relay_id: str, task_id: str, *, generation: int) -> None:
        """Record that an aliyun task belongs to the relay (idempotent)."""
        ...

    def has_ingests(self, relay_id: str) -> bool:
        """True when any TRTC ingest is linked to the relay."""
        ...


class Planner(Protocol):
    """Rules: given a task change inside the transaction, enqueue follow-up jobs."""

    def __call__(self, tx: Transaction, change: TaskChange) -> list[int]: ...
