"""What the operator API answers, as Structs: encoded by msgspec, described in OpenAPI.

Each view is built from a store record; times become ISO 8601 UTC strings, bodies text,
and ingest secrets are masked.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from receiver.domain.destinations import ArtcSpec, ArtcTranscodeSpec, DestinationSpec
from receiver.domain.records import (
    EventRecord,
    IngestFields,
    IngestLink,
    JobFields,
    JobRecord,
    QuarantinedRecord,
    RelayRecord,
    RelayTaskFields,
    RelayTaskLink,
    TaskDetail,
    TaskRecord,
)
from receiver.domain.relay import PullToPushSpec, RecreatePolicy, TrtcIngestSpec
from receiver.domain.states import Provider, RelayOrigin, RelayState, Status
from receiver.follow_up_views import ChannelView, TranscodeView, failed_hint
from receiver.redaction import mask_text
from receiver.relay_providers import ChannelReading
from receiver.timefmt import iso_time

__all__ = [
    "ErrorBody",
    "EventView",
    "IngestView",
    "JobView",
    "Page",
    "QuarantinedView",
    "RelayAccepted",
    "RelayTaskView",
    "RelayView",
    "ReplayView",
    "TaskDetailView",
    "TaskView",
    "iso_time",
    "masked_config",
]

T = TypeVar("T")


class ErrorDetail(msgspec.Struct, frozen=True):
    """What went wrong: a stable ``code`` and a message for people."""

    code: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error answer: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


class Page(msgspec.Struct, Generic[T], frozen=True):
    """A page of a listing; ``next_cursor`` fetches the next one (None at the end)."""

    items: list[T]
    next_cursor: str | None


class TaskView(msgspec.Struct, frozen=True):
    """A task's current state."""

    provider: Provider
    task_id: str
    status: Status
    reason: str | None
    first_seen: str | None
    updated_at: str | None

    @classmethod
    def of(cls, task: TaskRecord) -> TaskView:
        """The view of a task record."""
        return cls(
            task.provider,
            task.task_id,
            task.status,
            task.reason or None,
            iso_time(task.first_seen_ms),
            iso_time(task.updated_at_ms),
        )


class EventView(msgspec.Struct, frozen=True):
    """One recorded event; ``applied`` when the task's state took it."""

    id: int
    source: str
    kind: str
    status: Status
    reason: str | None
    provider_status: str
    event_time: str | None
    received_at: str | None
    applied: bool
    raw: str

    @classmethod
    def of(cls, event: EventRecord) -> EventView:
        """The view of an event record."""
        return cls(
            event.id,
            event.source,
            event.kind,
            event.status,
            event.reason or None,
            event.provider_status,
            iso_time(event.event_time_ms),
            iso_time(event.received_at_ms),
            event.applied,
            mask_text(event.raw.decode("utf-8", errors="replace")),
        )


class JobView(JobFields, frozen=True, kw_only=True):
    """A follow-up job: the record's fields, its times as ISO text, its error masked."""

    due_at: str | None
    created_at: str | None
    updated_at: str | None

    @classmethod
    def of(cls, job: JobRecord) -> JobView:
        """The view of a job record."""
        return cls(
            id=job.id,
            action=job.action,
            relay_id=job.relay_id,
            provider=job.provider,
            task_id=job.task_id,
            payload={k: mask_text(v) if isinstance(v, str) else v for k, v in job.payload.items()},
            state=job.state,
            attempts=job.attempts,
            throttled=job.throttled,
            last_error=None if job.last_error is None else mask_text(job.last_error),
            due_at=iso_time(job.due_at_ms),
            created_at=iso_time(job.created_at_ms),
            updated_at=iso_time(job.updated_at_ms),
        )


class TaskDetailView(TaskView, frozen=True):
    """A task with its relay, its event history (provider-time order) and its jobs."""

    relay_id: str | None
    state_event_id: int
    events: list[EventView]
    arrival_order: list[int]
    jobs: list[JobView]
    next_cursor: str | None = None
    """The next page of ``events`` (``?cursor=``); None on the last page."""

    @classmethod
    def of_detail(cls, detail: TaskDetail, next_cursor: str | None = None) -> TaskDetailView:
        """The view of a task with (one page of) its history."""
        summary = TaskView.of(detail.task)
        return cls(
            **msgspec.structs.asdict(summary),
            relay_id=detail.task.relay_id,
            state_event_id=detail.task.state_event_id,
            events=[EventView.of(e) for e in detail.events],
            arrival_order=sorted(e.id for e in detail.events),
            jobs=[JobView.of(j) for j in detail.jobs],
            next_cursor=next_cursor,
        )


class QuarantinedView(msgspec.Struct, frozen=True):
    """A quarantined callback body and what became of its replay."""

    id: int
    source: str
    reason: str
    received_at: str | None
    context: dict[str, str]
    body: str
    replayed_at: str | None
    replay_result: str | None

    @classmethod
    def of(cls, item: QuarantinedRecord) -> QuarantinedView:
        """The view of a quarantined record."""
        return cls(
            item.id,
            item.source,
            item.reason,
            iso_time(item.received_at_ms),
            item.context,
            mask_text(item.body.decode("utf-8", errors="replace")),
            iso_time(item.replayed_at_ms),
            item.replay_result,
        )


class ReplayView(msgspec.Struct, frozen=True):
    """The outcome of replaying a quarantined callback."""

    status: str
    provider: Provider
    task_id: str


class IngestView(IngestFields, frozen=True, kw_only=True, omit_defaults=True):
    """A TRTC ingest linked to a relay: the link's shown fields."""

    @classmethod
    def of(cls, link: IngestLink) -> IngestView:
        """The view of an ingest link."""
        return msgspec.convert(link, cls, from_attributes=True)


class RelayTaskView(RelayTaskFields, frozen=True, kw_only=True, omit_defaults=True):
    """A task a relay had, by generation: the link's shown fields."""

    status: Status | None
    """Always shown: null while the task has reported no status."""

    @classmethod
    def of(cls, link: RelayTaskLink) -> RelayTaskView:
        """The view of a relay's task link."""
        return msgspec.convert(link, cls, from_attributes=True)


class RelayView(msgspec.Struct, frozen=True, omit_defaults=True):
    """A relay: its declaration, where it is, its ingests (and, alone, its tasks)."""

    id: str
    name: str
    state: RelayState
    origin: RelayOrigin
    region: str
    current_task_id: str | None
    generation: int
    pull_to_push: PullToPushSpec
    trtc_ingest: TrtcIngestSpec | None
    recreate: RecreatePolicy
    recreate_attempts: list[str | None]
    failure_reason: str | None
    ingests: list[IngestView]
    created_at: str | None
    updated_at: str | None
    tasks: list[RelayTaskView] | None = None
    ingest_restarts: list[str | None] | None = None
    """When relaywarden restarted the relay's TRTC ingest (within the recreate window)."""
    destination: DestinationSpec | None = None
    artc: ArtcSpec | None = None
    artc_transcode: ArtcTranscodeSpec | None = None
    channel: ChannelView | None = None
    transcode: TranscodeView | None = None
    hint: str | None = None

    @classmethod
    def of(
        cls,
        record: RelayRecord,
        *,
        with_tasks: bool = False,
        channel: ChannelReading | None = None,
    ) -> RelayView:
        """The view of a relay record (``UserSig``, ``PrivateMapKey``, ``UserToken`` masked).

        ``channel`` is the channel status read for this answer, if one was.
        """
        relay = record.relay
        transcode = relay.artc_transcode
        return cls(
            id=relay.id,
            name=relay.name,
            state=relay.state,
            origin=relay.origin,
            region=relay.region,
            current_task_id=relay.current_task_id,
            generation=relay.generation,
            pull_to_push=masked_config(relay.pull_to_push),
            trtc_ingest=None if relay.trtc_ingest is None else relay.trtc_ingest.redacted(),
            recreate=relay.recreate,
            recreate_attempts=[iso_time(t) for t in relay.recreate_attempts],
            failure_reason=None
            if relay.failure_reason is None
            else mask_text(relay.failure_reason),
            ingests=[IngestView.of(link) for link in record.ingests],
            created_at=iso_time(relay.created_at_ms),
            updated_at=iso_time(relay.updated_at_ms),
            tasks=[RelayTaskView.of(t) for t in record.tasks] if with_tasks else None,
            ingest_restarts=[iso_time(t) for t in relay.ingest_restarts] or None,
            destination=relay.destination,
            artc=relay.artc,
            artc_transcode=None if transcode is None else transcode.redacted(),
            channel=ChannelView.of(relay, channel),
            transcode=TranscodeView.of(relay),
            hint=failed_hint(relay),
        )


def masked_config(config: PullToPushSpec) -> PullToPushSpec:
    """``config`` as shown: signed parameters (``auth_key=``, ``token=`` …) of its URLs masked."""
    urls = config.SourceUrls
    return msgspec.structs.replace(
        config,
        DstUrl=None if config.DstUrl is None else mask_text(config.DstUrl),
        SourceUrls=None if urls is None else [mask_text(url) for url in urls],
        CallbackUrl=None if config.CallbackUrl is None else mask_text(config.CallbackUrl),
    )


class RelayAccepted(msgspec.Struct, frozen=True, omit_defaults=True):
    """A relay declaration or deletion was accepted; a job does the work."""

    id: str
    state: RelayState
    callback_url: str | None = None
