"""The ordering rule as a pure function: newer-or-equal moves, older does not, exited is final."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.domain.ordering import TaskState, apply_order
from receiver.domain.states import TERMINAL_STATUSES, Status


def test_the_first_event_always_sets_the_state() -> None:
    assert apply_order(None, Status.OFFLINE, 5) == TaskState(Status.OFFLINE, 5)


def test_a_newer_or_equal_event_moves_the_state_and_an_older_one_does_not() -> None:
    current = TaskState(Status.RUNNING, 1000)
    assert apply_order(current, Status.OFFLINE, 1001) == TaskState(Status.OFFLINE, 1001)
    assert apply_order(current, Status.RECOVERING, 1000) == TaskState(Status.RECOVERING, 1000)
    assert apply_order(current, Status.OFFLINE, 999) is None


def test_a_terminal_event_lands_even_when_older_and_keeps_the_newer_time() -> None:
    current = TaskState(Status.RECOVERING, 1000)
    assert apply_order(current, Status.EXITED, 900) == TaskState(Status.EXITED, 1000)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
@pytest.mark.parametrize("status", list(Status))
def test_a_terminal_state_never_moves(terminal: Status, status: Status) -> None:
    assert apply_order(TaskState(terminal, 10), status, 10_000) is None


@given(
    st.sampled_from(list(Status)),
    st.integers(0, 10**13),
    st.lists(st.tuples(st.sampled_from(list(Status)), st.integers(0, 10**13)), max_size=20),
)
def test_the_state_time_never_goes_back(
    first: Status, at: int, events: list[tuple[Status, int]]
) -> None:
    state = apply_order(None, first, at)
    assert state is not None
    for status, time in events:
        moved = apply_order(state, status, time)
        if moved is not None:
            assert moved.order_time_ms >= state.order_time_ms
            assert state.status not in TERMINAL_STATUSES
            state = moved
