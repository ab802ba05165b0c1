"""Answers of the operator routes added for declarative relays, event search, bulk retries
and the callback token, as Structs (encoded by msgspec, described in OpenAPI)."""

from __future__ import annotations

import msgspec

from receiver.domain.records import FoundEvent
from receiver.domain.states import Provider, RelayState
from receiver.store.base import DeclareOutcome
from receiver.views import EventView, JobView

__all__ = ["EventReplayView", "FoundEventView", "RelayDeclared", "RetriedJobs", "TokenView"]


class RelayDeclared(msgspec.Struct, frozen=True):
    """What ``PUT /api/relays/{name}`` did: ``created``, ``updated`` or ``unchanged``."""

    id: str
    name: str
    state: RelayState
    outcome: DeclareOutcome
    callback_url: str


class FoundEventView(EventView, frozen=True, kw_only=True):
    """A stored event with the task it is about."""

    provider: Provider
    task_id: str

    @classmethod
    def of_found(cls, event: FoundEvent) -> FoundEventView:
        """The view of a found event."""
        base = EventView.of(event)
        fields = {f: getattr(base, f) for f in EventView.__struct_fields__}
        return cls(**fields, provider=event.provider, task_id=event.task_id)


class EventReplayView(msgspec.Struct, frozen=True):
    """A stored event ingested again as a new event.

    ``status`` is ``accepted`` or ``duplicate``; ``applied`` says whether the task's state
    took it (the ordering rule decides, as for any callback); ``job_ids`` are the jobs the
    rules enqueued for it.
    """

    status: str
    replay_of: int
    event_id: int | None
    provider: Provider
    task_id: str
    applied: bool
    job_ids: list[int]


class RetriedJobs(msgspec.Struct, frozen=True):
    """The dead jobs a bulk retry put back in the queue."""

    retried: list[JobView]


class TokenView(msgspec.Struct, frozen=True):
    """The callback token and the CallbackUrl of each source that authenticates with it.

    ``configured`` when ``RELAYWARDEN_CALLBACK_TOKEN`` sets it (rotation is then refused).
    """

    token: str
    configured: bool
    callback_urls: dict[str, str]
