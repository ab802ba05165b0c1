"""The ordering rule of task state, as one pure function.

An event moves a task's state only if it is not older (by provider time) than the event
the state reflects; ties go to the later arrival. A terminal status never moves; a
terminal event always lands, since the provider says the task is gone whatever the
clocks say. Every store applies this function; none writes it in its own query language.
"""

from __future__ import annotations

from dataclasses import dataclass

from receiver.domain.states import TERMINAL_STATUSES, Status

__all__ = ["TaskState", "apply_order"]


@dataclass(frozen=True, slots=True)
class TaskState:
    """The part of a task's stored state the ordering rule reads."""

    status: Status
    order_time_ms: int


def apply_order(current: TaskState | None, status: Status, order_time_ms: int) -> TaskState | None:
    """The task's state after an event with ``status`` at ``order_time_ms``.

    Returns None when the event does not move the state (it is still recorded as history).
    The resulting order time never goes back: a terminal event older than the state keeps
    the newer time, so later comparisons stay monotonic.
    """
    if current is None:
        return TaskState(status, order_time_ms)
    if current.status in TERMINAL_STATUSES:
        return None
    if order_time_ms >= current.order_time_ms or status in TERMINAL_STATUSES:
        return TaskState(status, max(order_time_ms, current.order_time_ms))
    return None
