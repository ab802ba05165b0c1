"""The store interface: everything relaywarden keeps, behind one typed, async boundary.

The SQLite store implements it today; a PostgreSQL store will implement the same. Routes,
the job runner and the actions see only this interface and the domain types, never a
connection or a query. Writes an action makes while it runs a job are named methods that
take the ``ClaimedJob`` and check its fence first, raising ``LeaseLost`` when another
claim has happened since.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from receiver.domain.plan import JobSpec, Plan, PlanInput, Planner, TaskChange
from receiver.domain.records import (
    FoundEvent,
    IngestLink,
    JobRecord,
    QuarantinedRecord,
    RelayRecord,
    TaskDetail,
    TaskRecord,
)
from receiver.domain.relay import PullToPushSpec, RecreatePolicy, Relay, RelaySpec
from receiver.domain.states import (
    ChannelState,
    IngestState,
    JobState,
    Provider,
    RelayState,
    Status,
    TranscodeState,
)
from receiver.events import Event
from receiver.store.forward_interface import ForwardStore
from receiver.store.gauges_interface import GaugeStore
from receiver.store.healing_interface import HealingStore

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


class StoreUnavailable(Exception):
    """The store could not commit; callers answer 503 so the provider retries."""


class AggregatesElsewhere(Exception):
    """Another replica exports the database-wide gauges; this one exports none of them."""


class BadCursor(ValueError):
    """A pagination cursor the store did not hand out; callers answer 400."""


class Conflict(Exception):
    """A write collides with existing data (a unique key); callers answer 409."""


class LeaseLost(Exception):
    """The job was claimed again by someone else; this run must stop writing."""


class TokenRefused(Exception):
    """No callback token is stored, but the store already holds relays or events.

    A new token would silently break every CallbackUrl registered with the old one, so
    the store makes one only when asked to explicitly (``serve --new-token``).
    """


class DeclareOutcome(enum.StrEnum):
    """What ``put_relay`` did with a declaration."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class CallbackTokens:
    """The callback token, the key per-relay tokens derive from, and whether it is new.

    ``relay_key`` starts as the first callback token and survives rotation, so the
    per-relay CallbackUrls already registered keep working when the main token changes.
    """

    callback: str
    relay_key: str
    created: bool = False


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters of an event search; None leaves a filter out. Times are ms, ``until`` exclusive."""

    provider: Provider | None = None
    task_id: str | None = None
    relay_id: str | None = None
    kind: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What the callback transaction did; available only after it committed."""

    duplicate: bool
    event_id: int | None
    change: TaskChange | None
    job_ids: tuple[int, ...] = ()


class ClaimedJob(JobRecord, frozen=True, kw_only=True):
    """A job as handed to a worker: the job, the fence of this claim and its lease length.

    ``lease_ms`` is how long each fenced write of this run extends the lease.
    """

    fence: int
    lease_ms: int


@dataclass(frozen=True, slots=True)
class RunResult:
    """How one run of a job ended: ``succeeded``, ``dead``, or ``pending`` again.

    ``due_at_ms`` is when a pending job runs next; a ``throttled`` run gives its attempt
    back (the provider pacing us is not a failure of the job).
    """

    state: JobState
    error: str | None = None
    due_at_ms: int | None = None
    throttled: bool = False


class Store(HealingStore, ForwardStore, GaugeStore, Protocol):
    """Events, tasks, relays, jobs, quarantine and the process lock, as one interface."""

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

    async def start(self) -> None:
        """Create or migrate the schema and get ready for work."""
        ...

    async def stop(self) -> None:
        """Finish pending writes and release every connection."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot be read."""
        ...

    # callbacks ---------------------------------------------------------------------------
    async def ingest(self, event: Event) -> IngestResult:
        """Append, order, plan and apply one event in one durable transaction."""
        ...

    async def quarantine(
        self, source: str, reason: str, body: bytes, context: dict[str, str]
    ) -> int:
        """Keep an authenticated body that is not a known event; returns its id."""
        ...

    async def callback_token(self, configured: str | None) -> str:
        """The callback token: the configured one, else one generated once and kept."""
        ...

    # tasks and quarantine ----------------------------------------------------------------
    async def list_tasks(
        self, *, provider: Provider | None, status: Status | None, limit: int, cursor: int | None
    ) -> list[TaskRecord]:
        """Tasks newest first (by first sighting), ``limit`` after ``cursor`` (a ``seq``)."""
        ...

    async def get_task(self, provider: str, task_id: str) -> TaskDetail | None:
        """One task with its events and jobs, or None."""
        ...

    async def list_unrecognized(self, *, limit: int, cursor: int | None) -> list[QuarantinedRecord]:
        """Quarantined callbacks, newest first."""
        ...

    async def get_unrecognized(self, item_id: int) -> QuarantinedRecord | None:
        """One quarantined callback, or None."""
        ...

    async def mark_replayed(self, item_id: int, result: str) -> None:
        """Record that a quarantined callback was replayed and how that went."""
        ...

    # relays (API) ------------------------------------------------------------------------
    async def declare_relay(self, relay_id: str, spec: RelaySpec) -> Relay:
        """Insert a declared relay, link its ingest, enqueue its create or adopt job."""
        ...

    async def list_relays(
        self, *, state: RelayState | None, limit: int, cursor: str | None
    ) -> tuple[list[RelayRecord], str | None]:
        """Relays newest first with their ingests, and the next cursor (raises BadCursor)."""
        ...

    async def get_relay_record(self, relay_id: str) -> RelayRecord | None:
        """A relay with its ingests and every task it had, or None."""
        ...

    async def request_relay_delete(self, relay_id: str) -> Relay | None:
        """Mark a relay ``deleting`` and enqueue its ``delete_task`` job (idempotent)."""
        ...

    # jobs (API and runner) ---------------------------------------------------------------
    async def list_jobs(
        self, *, state: JobState | None, limit: int, cursor: int | None
    ) -> list[JobRecord]:
        """Jobs newest first, optionally in one state."""
        ...

    async def get_job(self, job_id: int) -> JobRecord | None:
        """One job, or None."""
        ...

    async def retry_dead_job(self, job_id: int) -> JobRecord | None:
        """A dead job back to pending, due now, fresh attempts; None when no dead job."""
        ...

    async def enqueue_job(self, spec: JobSpec) -> int:
        """Add a pending job to the outbox; returns its id."""
        ...

    async def claim_due_jobs(
        self, *, limit: int, lease_ms: int, now: int | None = None
    ) -> list[ClaimedJob]:
        """Claim due jobs (pending and due, or running with an expired lease), one per relay."""
        ...

    async def finish_job(self, job: ClaimedJob, result: RunResult) -> None:
        """Record a run's outcome; a dead create/recreate/adopt job fails its relay."""
        ...

    async def extend_lease(self, job: ClaimedJob) -> None:
        """Check the fence and extend the lease (raises LeaseLost)."""
        ...

    # an action's reads and fenced writes -------------------------------------------------
    async def get_relay(self, relay_id: str) -> Relay | None:
        """One relay, or None."""
        ...

    async def ingests_of(self, relay_id: str) -> list[IngestLink]:
        """The TRTC ingests linked to a relay, oldest first."""
        ...

    async def mark_create_sent(self, job: ClaimedJob) -> None:
        """Note in the job that CreateLivePullToPush is about to be sent."""
        ...

    async def record_new_task(self, job: ClaimedJob, relay_id: str, task_id: str) -> int:
        """Make ``task_id`` the relay's current task (pending relays become active)."""
        ...

    async def record_adopted_config(
        self,
        job: ClaimedJob,
        relay_id: str,
        task_id: str,
        config: PullToPushSpec,
        *,
        exited: bool,
    ) -> None:
        """Keep a described configuration; a pending relay takes the task (ended if exited)."""
        ...

    async def save_config(self, job: ClaimedJob, relay_id: str, config: PullToPushSpec) -> None:
        """Replace a relay's pull-to-push configuration."""
        ...

    async def start_recreate_attempt(
        self,
        job: ClaimedJob,
        relay_id: str,
        old_task_id: str,
        policy: RecreatePolicy,
        now_ms: int,
    ) -> bool:
        """Count one re-creation attempt and retire the old task; False when over budget.

        Over budget, the relay fails and a ``stop_ingest`` job is enqueued.
        """
        ...

    async def retire_task(self, job: ClaimedJob, task_id: str) -> None:
        """Mark a task relaywarden itself deletes, so its exit is not the relay's end."""
        ...

    async def set_relay_state(self, job: ClaimedJob, relay_id: str, state: RelayState) -> None:
        """Move a relay to ``state``."""
        ...

    async def set_ingest_state(self, job: ClaimedJob, ingest_id: int, state: IngestState) -> None:
        """Record what became of a linked ingest."""
        ...

    async def add_ingest(
        self, job: ClaimedJob, relay_id: str, sdk_app_id: int, task_id: str
    ) -> int:
        """Link an ingest relaywarden started (running, owned); returns the link id."""
        ...

    async def note_in_job(self, job: ClaimedJob, key: str, value: int | str) -> None:
        """Keep ``payload[key] = value`` in the job, for a re-run of it to read."""
        ...

    async def record_channel(
        self, job: ClaimedJob, relay_id: str, state: ChannelState, play_url: str | None = None
    ) -> None:
        """Record the state relaywarden set the relay's OSS LiveChannel to (and its play URL)."""
        ...

    async def record_transcode(
        self, job: ClaimedJob, relay_id: str, state: TranscodeState, task_id: str | None
    ) -> None:
        """Record the relay's ARTC transcode: its state and TaskId (None keeps the known one)."""
        ...

    # operator: declarations, searches, bulk retries, the callback token -----------------
    async def put_relay(self, relay_id: str, spec: RelaySpec) -> tuple[Relay, DeclareOutcome]:
        """Declare the relay named ``spec.name`` idempotently.

        No live relay of that name: declared under ``relay_id`` (``created``). One with the
        same declaration: ``unchanged``. Otherwise its stored pull-to-push parameters,
        ingest start parameters and recreate policy are replaced (``updated``); they take
        effect at the next (re-)creation. Raises ``Conflict`` when the declaration cannot
        describe that relay (create vs adopt, another adopted task, another linked ingest).
        """
        ...

    async def jobs_of_relay(self, relay_id: str, *, limit: int) -> list[JobRecord]:
        """A relay's jobs, newest first."""
        ...

    async def job_counts_by_relay(self, relay_ids: Sequence[str]) -> dict[str, dict[JobState, int]]:
        """Job counts per state of each relay given (relays without jobs are left out)."""
        ...

    async def retry_dead_jobs(
        self, *, relay_id: str | None, action: str | None, limit: int
    ) -> list[JobRecord]:
        """``retry_dead_job`` for up to ``limit`` dead jobs (oldest first), filtered."""
        ...

    async def search_events(
        self, query: EventQuery, *, limit: int, cursor: int | None
    ) -> list[FoundEvent]:
        """Stored events matching ``query``, newest (highest id) first, ids below ``cursor``."""
        ...

    async def get_event(self, event_id: int) -> FoundEvent | None:
        """One stored event, or None."""
        ...

    async def callback_tokens(self, configured: str | None, *, may_create: bool) -> CallbackTokens:
        """The configured or stored callback token; creates one when none is stored.

        Creating is refused (``TokenRefused``) when ``may_create`` is False and the store
        already holds relays or events.
        """
        ...

    async def rotate_callback_token(self) -> CallbackTokens:
        """Store a new callback token; the per-relay key stays (it is kept on first rotation)."""
        ...

    # scrape-time aggregates (sync: the Prometheus collector runs in a thread) ------------
    def task_counts(self) -> list[tuple[str, str, int]]:
        """(provider, status, count) of tasks."""
        ...

    def pending_jobs(self) -> tuple[list[tuple[str, int]], int | None]:
        """Unfinished job counts by action and the oldest one's creation time (ms)."""
        ...

    def relay_counts(self) -> list[tuple[str, int]]:
        """(state, count) of relays."""
        ...
