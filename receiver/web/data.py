"""What the status page shows, read through the typed ``Store`` interface.

The one module of the pages that knows the store; it works on any ``Store``
implementation, because it only calls the interface's methods.
"""

from __future__ import annotations

from dataclasses import dataclass

from receiver.domain.records import EventRecord, JobRecord, RelayRecord, TaskDetail
from receiver.domain.states import JobState, Provider, RelayState
from receiver.logs import redact_url
from receiver.redaction import mask_text
from receiver.store.base import Store

__all__ = [
    "JOBS_SHOWN",
    "PAGE_LIMIT",
    "RELAY_STATES",
    "EventLine",
    "IngestLine",
    "JobLine",
    "RelayDetail",
    "RelayRow",
    "relay_detail",
    "relay_rows",
]

#: The table lists at most this many relays (newest first): the page is an overview, the
#: API pages further. A relay's detail shows its newest ``JOBS_SHOWN`` jobs.
PAGE_LIMIT = 200
JOBS_SHOWN = 200
RELAY_STATES = tuple(state.value for state in RelayState)
_OPEN_JOB_STATES = (JobState.PENDING, JobState.RUNNING)


@dataclass(frozen=True, slots=True)
class IngestLine:
    """A TRTC ingest linked to a relay."""

    sdk_app_id: int
    task_id: str | None
    state: str


@dataclass(frozen=True, slots=True)
class RelayRow:
    """One line of the relay table."""

    id: str
    name: str
    state: str
    region: str
    task_id: str | None
    task_status: str | None
    task_reason: str | None
    last_event: str | None
    last_event_ms: int | None
    ingests: tuple[IngestLine, ...]
    open_jobs: int
    dead_jobs: int
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class EventLine:
    """One stored event of one of a relay's tasks."""

    id: int
    provider: str
    task_id: str
    kind: str
    status: str
    reason: str | None
    provider_status: str
    received_at_ms: int
    event_time_ms: int | None
    applied: bool


@dataclass(frozen=True, slots=True)
class JobLine:
    """One follow-up job of a relay."""

    id: int
    action: str
    state: str
    attempts: int
    last_error: str | None
    updated_at_ms: int


@dataclass(frozen=True, slots=True)
class RelayDetail:
    """A relay with its event history (newest first) and its jobs (newest first)."""

    row: RelayRow
    origin: str
    generation: int
    dst_url: str | None
    end_time: str | None
    created_at_ms: int
    updated_at_ms: int
    events: tuple[EventLine, ...]
    jobs: tuple[JobLine, ...]


def _newest(events: list[EventRecord]) -> EventRecord | None:
    return max(events, key=lambda e: (e.received_at_ms, e.id)) if events else None


def _row(record: RelayRecord, task: TaskDetail | None, counts: dict[JobState, int]) -> RelayRow:
    relay = record.relay
    last = _newest(task.events) if task else None
    return RelayRow(
        id=relay.id,
        name=relay.name,
        state=relay.state.value,
        region=relay.region,
        task_id=relay.current_task_id,
        task_status=task.task.status.value if task else None,
        task_reason=(task.task.reason or None) if task else None,
        last_event=f"{last.kind} → {last.status}" if last else None,
        last_event_ms=last.received_at_ms if last else None,
        ingests=tuple(
            IngestLine(sdk_app_id=i.sdk_app_id, task_id=i.task_id, state=i.state.value)
            for i in record.ingests
        ),
        open_jobs=sum(counts.get(s, 0) for s in _OPEN_JOB_STATES),
        dead_jobs=counts.get(JobState.DEAD, 0),
        failure_reason=mask_text(relay.failure_reason) if relay.failure_reason else None,
    )


async def _current_task(store: Store, record: RelayRecord) -> TaskDetail | None:
    task_id = record.relay.current_task_id
    return await store.get_task(Provider.ALIYUN, task_id) if task_id else None


async def relay_rows(store: Store, *, state: str | None) -> list[RelayRow]:
    """The relay table, newest relay first, optionally only relays in ``state``."""
    records, _ = await store.list_relays(
        state=RelayState(state) if state else None, limit=PAGE_LIMIT, cursor=None
    )
    counts = await store.job_counts_by_relay([r.relay.id for r in records])
    return [
        _row(record, await _current_task(store, record), counts.get(record.relay.id, {}))
        for record in records
    ]


def _event_line(provider: str, task_id: str, event: EventRecord) -> EventLine:
    return EventLine(
        id=event.id,
        provider=provider,
        task_id=task_id,
        kind=event.kind,
        status=event.status.value,
        reason=event.reason or None,
        provider_status=event.provider_status,
        received_at_ms=event.received_at_ms,
        event_time_ms=event.event_time_ms,
        applied=event.applied,
    )


def _job_line(job: JobRecord) -> JobLine:
    return JobLine(
        id=job.id,
        action=job.action,
        state=job.state.value,
        attempts=job.attempts,
        last_error=mask_text(job.last_error) if job.last_error else None,
        updated_at_ms=job.updated_at_ms,
    )


async def relay_detail(store: Store, relay_id: str) -> RelayDetail | None:
    """One relay with the events of every task it had and of its linked ingests."""
    record = await store.get_relay_record(relay_id)
    if record is None:
        return None
    tasks = [(Provider.ALIYUN, link.task_id) for link in record.tasks]
    tasks += [(Provider.TRTC, i.task_id) for i in record.ingests if i.task_id]
    events: list[EventLine] = []
    current: TaskDetail | None = None
    for provider, task_id in tasks:
        detail = await store.get_task(provider, task_id)
        if detail is None:
            continue
        if provider is Provider.ALIYUN and task_id == record.relay.current_task_id:
            current = detail
        events.extend(_event_line(provider.value, task_id, e) for e in detail.events)
    events.sort(key=lambda e: (e.received_at_ms, e.id), reverse=True)
    jobs = await store.jobs_of_relay(relay_id, limit=JOBS_SHOWN)
    counts = (await store.job_counts_by_relay([relay_id])).get(relay_id, {})
    relay = record.relay
    config = relay.pull_to_push
    return RelayDetail(
        row=_row(record, current, counts),
        origin=relay.origin.value,
        generation=relay.generation,
        dst_url=redact_url(config.DstUrl) if config.DstUrl else None,
        end_time=config.EndTime,
        created_at_ms=relay.created_at_ms,
        updated_at_ms=relay.updated_at_ms,
        events=tuple(events),
        jobs=tuple(_job_line(j) for j in jobs),
    )
