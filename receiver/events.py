"""The normalized event model every provider callback is turned into."""

from __future__ import annotations

import enum
import hashlib
from typing import Any

import msgspec

__all__ = [
    "TERMINAL_STATUSES",
    "Event",
    "EventKind",
    "Provider",
    "Source",
    "Status",
    "dedupe_key",
]


class Source(enum.StrEnum):
    """Which callback route an event came through (the ``source`` metric label)."""

    ALIYUN_PULL_TO_PUSH = "aliyun_pull_to_push"
    TRTC = "trtc"
    TENCENT_PULL_TO_PUSH = "tencent_pull_to_push"


class Provider(enum.StrEnum):
    """Which kind of provider task an event is about."""

    ALIYUN = "aliyun"
    TRTC = "trtc"
    TENCENT = "tencent"


class EventKind(enum.StrEnum):
    """What happened: a status change, the task's exit, or an ingest start/stop."""

    STATUS = "status"
    EXIT = "exit"
    INGEST_START = "ingest_start"
    INGEST_STOP = "ingest_stop"


class Status(enum.StrEnum):
    """Normalized task statuses (design.md, "HTTP interface")."""

    IDLE = "idle"
    RUNNING = "running"
    RECOVERING = "recovering"
    OFFLINE = "offline"
    EXITED = "exited"
    STARTING = "starting"
    FAILED = "failed"
    STOPPED = "stopped"


#: Statuses a task id never leaves: an exited pull-to-push task and a stopped ingest task
#: are gone for good at the provider; a new task gets a new id.
TERMINAL_STATUSES = frozenset({Status.EXITED, Status.STOPPED})


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One provider callback, normalized.

    ``event_time_ms`` is the provider's own time of the event (milliseconds since the
    epoch), or ``None`` when the body carries none; ``raw`` is the body exactly as received.
    ``task_info`` is the task configuration the callback carried, when any; ``context``
    holds routing facts from the callback URL (``relay``, ``region``).
    """

    source: Source
    provider: Provider
    task_id: str
    kind: EventKind
    status: Status
    reason: str
    event_time_ms: int | None
    provider_status: str
    raw: bytes
    task_info: dict[str, Any] | None = None
    context: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """Key under which provider retries of this same event collapse into one."""
        return dedupe_key(
            self.source,
            self.task_id,
            self.kind,
            self.provider_status,
            self.reason,
            self.event_time_ms,
        )


def dedupe_key(
    source: str,
    task_id: str,
    kind: str,
    provider_status: str,
    reason: str,
    event_time_ms: int | None,
) -> str:
    """Hash of the fields a provider retry repeats identically (design.md, "Deduplication")."""
    parts = (
        source,
        task_id,
        kind,
        provider_status,
        reason,
        "" if event_time_ms is None else str(event_time_ms),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
