"""A relay's own lifecycle: ended with its current task, failed with its task-giving job."""

from __future__ import annotations

import msgspec
import pytest

from receiver.domain.lifecycle import (
    state_after_job_death,
    state_after_job_retry,
    state_after_task_status,
)
from receiver.domain.records import RelayTaskLink
from receiver.domain.relay import PullToPushSpec, Relay
from receiver.domain.states import JobAction, RelayOrigin, RelayState, Status

RELAY = Relay(
    id="r1",
    name="r1",
    state=RelayState.ACTIVE,
    origin=RelayOrigin.DECLARED,
    region="cn-shanghai",
    pull_to_push=PullToPushSpec(Region="cn-shanghai"),
    current_task_id="t2",
    generation=2,
)


def link(task_id: str, *, retired: bool = False) -> RelayTaskLink:
    return RelayTaskLink(relay_id="r1", task_id=task_id, generation=2, retired_by_us=retired)


def test_the_current_task_exiting_ends_the_relay() -> None:
    assert state_after_task_status(RELAY, link("t2"), "t2", Status.EXITED) is RelayState.ENDED


@pytest.mark.parametrize(
    ("task_id", "status", "retired", "state"),
    [
        ("t1", Status.EXITED, False, RelayState.ACTIVE),  # an old generation
        ("t2", Status.EXITED, True, RelayState.ACTIVE),  # deleted by us while re-creating
        ("t2", Status.OFFLINE, False, RelayState.ACTIVE),  # not terminal
        ("t2", Status.EXITED, False, RelayState.DELETING),  # the operator stopped managing it
        ("t2", Status.EXITED, False, RelayState.FAILED),
    ],
)
def test_other_changes_leave_the_relay_alone(
    task_id: str, status: Status, retired: bool, state: RelayState
) -> None:
    relay = msgspec.structs.replace(RELAY, state=state)
    assert state_after_task_status(relay, link(task_id, retired=retired), task_id, status) is None


@pytest.mark.parametrize(
    ("action", "state", "expected"),
    [
        (JobAction.CREATE_TASK, RelayState.PENDING, RelayState.FAILED),
        (JobAction.ADOPT_TASK, RelayState.PENDING, RelayState.FAILED),
        (JobAction.ADOPT_TASK, RelayState.ACTIVE, RelayState.FAILED),
        (JobAction.RECREATE, RelayState.ACTIVE, RelayState.FAILED),
        (JobAction.RECREATE, RelayState.PENDING, None),
        (JobAction.START_INGEST, RelayState.ACTIVE, None),
        (JobAction.DELETE_TASK, RelayState.DELETING, None),
        (JobAction.CREATE_TASK, RelayState.DELETING, None),
        ("no_such_action", RelayState.ACTIVE, None),
    ],
)
def test_a_dead_job_fails_the_relay_only_when_it_was_to_give_it_a_task(
    action: str, state: RelayState, expected: RelayState | None
) -> None:
    relay = msgspec.structs.replace(RELAY, state=state)
    assert state_after_job_death(relay, action) is expected


def test_retrying_the_dead_job_manages_the_failed_relay_again() -> None:
    failed = msgspec.structs.replace(RELAY, state=RelayState.FAILED)
    assert state_after_job_retry(failed, JobAction.RECREATE) is RelayState.ACTIVE
    waiting = msgspec.structs.replace(failed, current_task_id=None)
    assert state_after_job_retry(waiting, JobAction.CREATE_TASK) is RelayState.PENDING
    assert state_after_job_retry(failed, JobAction.STOP_INGEST) is None
    assert state_after_job_retry(RELAY, JobAction.RECREATE) is None  # not failed
