"""What the store hands back: typed records of tasks, events, jobs, relays and quarantine.

Store-neutral: the SQLite store builds them from rows, a PostgreSQL store from its own.
Times are milliseconds since the epoch, as stored.
"""

from __future__ import annotations

from typing import Any

import msgspec

from receiver.domain.relay import Relay
from receiver.domain.states import IngestState, JobState, Provider, Status

__all__ = [
    "EventRecord",
    "FoundEvent",
    "IngestFields",
    "IngestLink",
    "JobFields",
    "JobPayload",
    "JobRecord",
    "QuarantinedRecord",
    "ReconcileTarget",
    "RelayRecord",
    "RelayTaskFields",
    "RelayTaskLink",
    "TaskDetail",
    "TaskRecord",
]


#: What a job carries for its action: a small JSON object (task id, reason, notes of
#: progress such as ``create_sent``), open so that each action keeps its own keys.
JobPayload = dict[str, Any]


class TaskRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A task's current state; ``seq`` orders tasks by first sighting."""

    seq: int
    provider: Provider
    task_id: str
    status: Status
    reason: str
    state_event_id: int
    first_seen_ms: int
    updated_at_ms: int
    relay_id: str | None = None


class EventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded event; ``applied`` says whether the task's state took it."""

    id: int
    source: str
    kind: str
    status: Status
    reason: str
    provider_status: str
    event_time_ms: int | None
    order_time_ms: int
    received_at_ms: int
    applied: bool
    raw: bytes


class FoundEvent(EventRecord, frozen=True, kw_only=True):
    """An event found by a search across tasks: the event and the task it is about."""

    provider: Provider
    task_id: str


class JobFields(msgspec.Struct, frozen=True, kw_only=True):
    """What a job is, apart from its times: shared by the record and its API view.

    ``action`` stays text: a job may name an action we lack.
    """

    id: int
    action: str
    relay_id: str | None
    provider: str | None
    task_id: str | None
    payload: JobPayload
    state: JobState
    attempts: int
    throttled: int
    last_error: str | None


class JobRecord(JobFields, frozen=True, kw_only=True):
    """One job of the outbox, its times in milliseconds since the epoch."""

    due_at_ms: int
    created_at_ms: int
    updated_at_ms: int


class TaskDetail(msgspec.Struct, frozen=True, kw_only=True):
    """A task with its events (provider-time order) and its jobs."""

    task: TaskRecord
    events: list[EventRecord]
    jobs: list[JobRecord]


class QuarantinedRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated callback body that was not a known event."""

    id: int
    source: str
    reason: str
    received_at_ms: int
    context: dict[str, str]
    body: bytes
    replayed_at_ms: int | None
    replay_result: str | None


class RelayTaskFields(msgspec.Struct, frozen=True, kw_only=True):
    """A task a relay had, by generation (the API shows these fields as they are).

    ``retired_by_us`` when relaywarden deleted it.
    """

    task_id: str
    generation: int
    retired_by_us: bool
    status: Status | None = None
    region: str | None = None
    """The region the task is known to live in; None until it has been found."""


class RelayTaskLink(RelayTaskFields, frozen=True, kw_only=True):
    """How a provider task belongs to a relay."""

    relay_id: str


class IngestFields(msgspec.Struct, frozen=True, kw_only=True):
    """A TRTC ingest linked to a relay (the API shows these fields as they are).

    ``owned`` when relaywarden started it; ``task_id`` is None while a start whose answer
    was lost awaits its id from a 701; ``reason`` says why it is in its state.
    """

    sdk_app_id: int
    task_id: str | None
    state: IngestState
    owned: bool
    reason: str | None = None


class IngestLink(IngestFields, frozen=True, kw_only=True):
    """An ingest link as the store keeps it."""

    id: int
    relay_id: str
    failures: int = 0
    """Start failures (701 with Status 1) in a row."""
    awaiting_since_ms: int | None = None
    """Since when the ingest's TaskId is awaited (a start answered TaskExist)."""


class RelayRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A relay with its ingests and (when asked for) the tasks it had."""

    relay: Relay
    ingests: list[IngestLink]
    tasks: list[RelayTaskLink] = msgspec.field(default_factory=list)


class ReconcileTarget(msgspec.Struct, frozen=True, kw_only=True):
    """An active relay as the reconciler compares it with the providers.

    ``task_status`` is the stored status of its current task (None: never seen),
    ``task_region`` where that task is known to live (None: not known).
    """

    relay: Relay
    task_status: Status | None
    task_reason: str
    task_region: str | None
    ingests: list[IngestLink]
