"""Searching the stored events across tasks, newest first, with an id cursor.

``events_by_task`` serves provider and task filters, ``events_by_received`` the time range,
``events_by_kind`` the kind; a relay filter expands to the relay's tasks and ingests.
"""

from __future__ import annotations

import msgspec

from receiver.domain.records import FoundEvent
from receiver.store.base import EventQuery
from receiver.store.dialect import Db
from receiver.store.rows import rows, where

__all__ = ["get_event", "search_events"]

_COLUMNS = (
    "id, source, provider, task_id, kind, status, reason, provider_status, event_time_ms, "
    "order_time_ms, received_at_ms, applied, raw"
)
#: The tasks of a relay: the pull-to-push tasks it had and the TRTC ingests linked to it.
_RELAY_TASKS = (
    "(provider, task_id) IN (SELECT provider, task_id FROM relay_tasks WHERE relay_id = ? "
    "UNION SELECT 'trtc', task_id FROM ingests WHERE relay_id = ? AND task_id IS NOT NULL)"
)


def search_events(
    conn: Db, query: EventQuery, *, limit: int, cursor: int | None
) -> list[FoundEvent]:
    """Events matching ``query``, highest id first, ids below ``cursor``."""
    condition, params = where(
        ("provider = ?", (query.provider.value,) if query.provider else None),
        ("task_id = ?", (query.task_id,) if query.task_id is not None else None),
        (_RELAY_TASKS, (query.relay_id, query.relay_id) if query.relay_id is not None else None),
        ("kind = ?", (query.kind,) if query.kind is not None else None),
        ("received_at_ms >= ?", (query.since_ms,) if query.since_ms is not None else None),
        ("received_at_ms < ?", (query.until_ms,) if query.until_ms is not None else None),
        ("id < ?", (cursor,) if cursor is not None else None),
    )
    sql = f"SELECT {_COLUMNS} FROM events {condition} ORDER BY id DESC LIMIT ?"
    return msgspec.convert(
        rows(conn.execute(sql, (*params, limit))), list[FoundEvent], strict=False
    )


def get_event(conn: Db, event_id: int) -> FoundEvent | None:
    """One stored event, or None."""
    found = rows(conn.execute(f"SELECT {_COLUMNS} FROM events WHERE id = ?", (event_id,)))
    return msgspec.convert(found[0], FoundEvent, strict=False) if found else None
