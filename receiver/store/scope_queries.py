"""The store side of callback scope (``receiver.domain.scope``), for both backends.

Both callback write paths call ``check_scope`` inside their transaction, before anything
of the event is written: the SQLite batch with the task link from its writer cache, the
one-event transaction (PostgreSQL) with the link read under the task's lock.
"""

from __future__ import annotations

from receiver.domain.records import RelayTaskLink
from receiver.domain.scope import OutOfScope, relay_may_speak_for
from receiver.domain.states import JobAction, JobState, RelayState
from receiver.events import Event
from receiver.store.dialect import Db

__all__ = ["check_scope", "relay_awaiting_task_id"]

_CREATES = (JobAction.CREATE_TASK.value, JobAction.RECREATE.value)
_OPEN = (JobState.PENDING.value, JobState.RUNNING.value)
_MANAGED = tuple(state.value for state in RelayState if state.managed)
_MARKS = ", ".join("?" * len(_MANAGED))


def relay_awaiting_task_id(conn: Db, relay_id: str) -> bool:
    """True while the relay is managed and one of its Create calls was sent (its job notes
    ``create_sent`` before sending) and that job has not recorded the task id yet."""
    row = conn.execute(
        "SELECT 1 FROM relays r JOIN jobs j ON j.relay_id = r.id "
        f"WHERE r.id = ? AND r.state IN ({_MARKS}) AND j.action IN (?, ?) AND j.state IN (?, ?) "
        "AND j.payload LIKE ? LIMIT 1",
        (relay_id, *_MANAGED, *_CREATES, *_OPEN, '%"create_sent":%'),
    ).fetchone()
    return row is not None


def check_scope(conn: Db, event: Event, link: RelayTaskLink | None) -> None:
    """Raise ``OutOfScope`` when the event's per-relay token does not cover its task.

    An event without ``scope_relay`` (the main token, the API's replays) is not limited.
    """
    scope = event.scope_relay
    if scope is None:
        return
    linked = None if link is None else link.relay_id
    awaiting = linked is None and relay_awaiting_task_id(conn, scope)
    if not relay_may_speak_for(scope, linked, awaiting):
        raise OutOfScope(scope, event.task_id)
