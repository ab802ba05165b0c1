"""The values and errors of the store interface: what its methods take, return and raise.

Kept apart from the protocols (``receiver.store.base`` re-exports them) so that each part
of the interface can name them without importing the whole.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from receiver.domain.plan import TaskChange
from receiver.domain.records import JobRecord
from receiver.domain.states import JobState, Provider

__all__ = ["AggregatesElsewhere", "BadCursor", "CallbackTokens", "ClaimedJob"]
__all__ += ["Conflict", "DeclareOutcome", "EventQuery", "IngestResult"]
__all__ += ["LeaseLost", "RunResult", "StoreUnavailable", "TokenRefused"]


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
