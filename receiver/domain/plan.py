"""What the planner is given and what it answers: the typed boundary between store and rules.

The store loads a ``PlanInput`` inside the callback transaction, calls the planner (a pure
function of it) and applies the ``Plan`` it returns in the same transaction. The planner
therefore never touches a connection, and any store can host it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from receiver.domain.records import JobPayload, RelayTaskLink
from receiver.domain.relay import Relay
from receiver.domain.states import JobAction, Provider, Status
from receiver.events import Event

__all__ = ["JobPayload", "JobSpec", "Plan", "PlanInput", "Planner", "TaskChange"]


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

    action: JobAction | str
    relay_id: str | None = None
    provider: Provider | None = None
    task_id: str | None = None
    payload: JobPayload = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class PlanInput:
    """Everything the planner reads about one committed task change.

    ``relay`` is the task's relay by its link, else the relay its CallbackUrl names
    (``linked`` tells which); ``has_ingests`` says whether any TRTC ingest is linked to it.
    """

    change: TaskChange
    link: RelayTaskLink | None
    relay: Relay | None
    linked: bool
    has_ingests: bool
    now_ms: int


@dataclass(frozen=True, slots=True)
class Plan:
    """What the store writes for a task change.

    ``new_relay``: a relay to insert (adopting a task nobody declared) with the task as its
    generation 1. ``claimed``: an existing relay that now has the event's task as its
    current task (at the relay's ``generation``). ``jobs``: follow-ups to enqueue.
    """

    jobs: tuple[JobSpec, ...] = ()
    new_relay: Relay | None = None
    claimed: Relay | None = None


#: Rules: a pure function from a task change (and what the store knows of it) to a plan.
Planner = Callable[[PlanInput], Plan]
