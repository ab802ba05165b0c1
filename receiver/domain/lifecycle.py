"""A relay's own lifecycle, whatever the rules file says.

A relay ends when its current task exits, and fails when the job that gives it a task
(create, re-create, adopt) is dead. Rules only choose follow-up actions; these two
transitions happen in every store, in the same transaction as their cause.
"""

from __future__ import annotations

from receiver.domain.records import RelayTaskLink
from receiver.domain.relay import Relay
from receiver.domain.states import (
    RELAY_JOB_ACTIONS,
    TERMINAL_STATUSES,
    JobAction,
    RelayState,
    Status,
)

__all__ = ["state_after_job_death", "state_after_job_retry", "state_after_task_status"]


def state_after_task_status(
    relay: Relay, link: RelayTaskLink | None, task_id: str, status: Status
) -> RelayState | None:
    """The relay's new state after its task ``task_id`` moved to ``status``, or None.

    Only the relay's current task counts, and not one relaywarden itself retired (deleting
    it while re-creating): that exit is ours, not the relay's end.
    """
    if status not in TERMINAL_STATUSES or relay.state is not RelayState.ACTIVE:
        return None
    if relay.current_task_id != task_id or (link is not None and link.retired_by_us):
        return None
    return RelayState.ENDED


def state_after_job_death(relay: Relay, action: str) -> RelayState | None:
    """The relay's new state when a job of ``action`` for it is dead, or None."""
    if action not in RELAY_JOB_ACTIONS or not relay.state.managed:
        return None
    if action == JobAction.RECREATE and relay.state is not RelayState.ACTIVE:
        return None
    return RelayState.FAILED


def state_after_job_retry(relay: Relay, action: str) -> RelayState | None:
    """The relay's state when the operator retries a dead job of ``action``, or None.

    A relay that failed because such a job died is managed again: active when it still has
    a task, pending while it waits for one.
    """
    if action not in RELAY_JOB_ACTIONS or relay.state is not RelayState.FAILED:
        return None
    return RelayState.ACTIVE if relay.current_task_id else RelayState.PENDING
