"""Every enumerated state and label relaywarden uses, one StrEnum each.

StrEnum values are the strings stored in the database, shown by the API and exported as
metric labels, so a member compares equal to its stored text.
"""

from __future__ import annotations

import enum

__all__ = [
    "RELAY_JOB_ACTIONS",
    "TERMINAL_STATUSES",
    "ChannelState",
    "EventKind",
    "IngestState",
    "JobAction",
    "JobState",
    "Provider",
    "RelayOrigin",
    "RelayState",
    "Source",
    "Status",
    "TaskStatus",
    "TranscodeState",
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
    """Normalized task statuses, the same words for every provider."""

    IDLE = "idle"
    RUNNING = "running"
    RECOVERING = "recovering"
    OFFLINE = "offline"
    EXITED = "exited"
    STARTING = "starting"
    FAILED = "failed"
    STOPPED = "stopped"

    @classmethod
    def of_provider(cls, provider: Provider) -> tuple[Status, ...]:
        """The statuses a provider's tasks can be in (the known ``relaywarden_tasks`` labels)."""
        return _STATUSES_BY_PROVIDER[provider]


#: The name the issue and later code use for task statuses.
TaskStatus = Status

_STATUSES_BY_PROVIDER: dict[Provider, tuple[Status, ...]] = {
    Provider.ALIYUN: (
        Status.IDLE,
        Status.RUNNING,
        Status.RECOVERING,
        Status.OFFLINE,
        Status.EXITED,
    ),
    Provider.TRTC: (Status.STARTING, Status.RUNNING, Status.FAILED, Status.STOPPED),
    Provider.TENCENT: (Status.RUNNING, Status.RECOVERING, Status.OFFLINE),
}

#: Statuses a task id never leaves: an exited pull-to-push task and a stopped ingest task
#: are gone for good at the provider; a new task gets a new id.
TERMINAL_STATUSES = frozenset({Status.EXITED, Status.STOPPED})


class RelayState(enum.StrEnum):
    """Where a relay is in its life.

    pending: waiting for its first task; active: kept alive; ended: its task exited for
    good; failed: creating, re-creating or adopting its task gave up; deleting/deleted: the
    operator stopped managing it.
    """

    PENDING = "pending"
    ACTIVE = "active"
    ENDED = "ended"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"

    @property
    def managed(self) -> bool:
        """True while relaywarden still looks after the relay's task."""
        return self in (RelayState.PENDING, RelayState.ACTIVE)


class RelayOrigin(enum.StrEnum):
    """How a relay came to be: declared with a config, adopted by id, or seen in a callback."""

    DECLARED = "declared"
    ADOPTED = "adopted"
    CALLBACK = "callback"


class JobState(enum.StrEnum):
    """Where a job of the outbox is."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


class JobAction(enum.StrEnum):
    """The follow-up actions a job can carry (the ``action`` metric label)."""

    CREATE_TASK = "create_task"
    ADOPT_TASK = "adopt_task"
    RECREATE = "recreate"
    DELETE_TASK = "delete_task"
    START_INGEST = "start_ingest"
    STOP_INGEST = "stop_ingest"
    CHECK_INGEST = "check_ingest"
    START_TRANSCODE = "start_transcode"
    STOP_TRANSCODE = "stop_transcode"
    DISABLE_CHANNEL = "disable_channel"


#: Actions whose death leaves the relay without a task: the relay fails with their reason.
RELAY_JOB_ACTIONS = frozenset({JobAction.CREATE_TASK, JobAction.RECREATE, JobAction.ADOPT_TASK})


class IngestState(enum.StrEnum):
    """A linked TRTC ingest as relaywarden last knew it."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"

    @property
    def live(self) -> bool:
        """True when the ingest may still be pushing."""
        return self in (IngestState.STARTING, IngestState.RUNNING)


class ChannelState(enum.StrEnum):
    """A relay's OSS LiveChannel as relaywarden last set it."""

    ENABLED = "enabled"
    DISABLED = "disabled"


class TranscodeState(enum.StrEnum):
    """A relay's ARTC cloud transcode job as relaywarden last knew it.

    starting: the Start request is (about to be) sent and its answer not yet recorded;
    running: its TaskId is known; stopped: stopped by relaywarden (or found gone).
    """

    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
