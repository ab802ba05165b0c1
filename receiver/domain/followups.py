"""Follow-ups of a relay's destination and ARTC sections: which jobs a transition calls for.

Pure functions of the typed relay. The planner asks :func:`follow_up_job` when a rule names
one of these actions (the relay's task reached ``running`` or ``exited``); the store asks
:func:`wind_down_jobs` when it fails a relay, so a failed relay releases what it holds
exactly like an ended one.
"""

from __future__ import annotations

from receiver.domain.destinations import OssLiveChannelSpec
from receiver.domain.plan import JobSpec
from receiver.domain.relay import Relay
from receiver.domain.states import JobAction, Provider, Status

__all__ = ["FOLLOW_UP_ACTIONS", "channel_of", "follow_up_job", "wind_down_jobs"]

#: The actions this module plans.
FOLLOW_UP_ACTIONS = frozenset(
    {JobAction.START_TRANSCODE, JobAction.STOP_TRANSCODE, JobAction.DISABLE_CHANNEL}
)


def channel_of(relay: Relay) -> OssLiveChannelSpec | None:
    """The relay's OSS LiveChannel, when its destination is one."""
    return None if relay.destination is None else relay.destination.oss_live_channel


def _wanted(relay: Relay, action: JobAction) -> bool:
    if action in (JobAction.START_TRANSCODE, JobAction.STOP_TRANSCODE):
        return relay.artc is not None and relay.artc_transcode is not None
    channel = channel_of(relay)
    return action is JobAction.DISABLE_CHANNEL and channel is not None and channel.DisableOnEnd


def follow_up_job(
    relay: Relay, action: str, *, task_id: str, previous_status: Status | None
) -> JobSpec | None:
    """The job a rule's ``action`` means for ``relay`` after its task ``task_id`` moved.

    None when the relay declares nothing the action applies to, or (for a start) when the
    task was running already: a repeated ``running`` is no new start.
    """
    if action not in FOLLOW_UP_ACTIONS:
        return None
    kind = JobAction(action)
    if not _wanted(relay, kind):
        return None
    if kind is JobAction.START_TRANSCODE and previous_status is Status.RUNNING:
        return None
    return JobSpec(kind, relay.id, Provider.ALIYUN, task_id, {"task_id": task_id})


def wind_down_jobs(relay: Relay, reason: str) -> tuple[JobSpec, ...]:
    """Jobs that stop the relay's transcode and disable its channel (as declared)."""
    return tuple(
        JobSpec(action, relay.id, payload={"reason": reason})
        for action in (JobAction.STOP_TRANSCODE, JobAction.DISABLE_CHANNEL)
        if _wanted(relay, action)
    )
