"""The forwarding outbox in SQL (both backends): enqueue, claim under a lease, finish.

A forward is written in the transaction of its callback's event (``forward_row`` for the
SQLite batch, ``enqueue_forward`` for the one-event transaction), so it exists exactly when
the callback was acknowledged. Workers claim due rows with a lease and a fence like jobs:
on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so two replicas never send one row at once, and a
row whose worker died is claimed again when its lease ends.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from receiver.domain.forwards import ClaimedForward, ForwardAttempt, ForwardRecord, ForwardState
from receiver.events import Event
from receiver.store.dialect import Db, is_postgres
from receiver.store.rows import Row, lease_row, one, rows, where

__all__ = [
    "FORWARD_COLUMNS",
    "claim_forwards",
    "enqueue_forward",
    "finish_forward",
    "forward_counts",
    "forward_row",
    "get_forward",
    "list_forwards",
    "release_claimed_forwards",
    "retry_dead_forwards",
]

#: The columns ``forward_row`` fills, in its order.
FORWARD_COLUMNS = (
    "event_id, source, headers, body, state, attempts, fence, due_at_ms, created_at_ms, "
    "updated_at_ms"
)
_RECORD = (
    "id, event_id, source, state, attempts, due_at_ms, last_status, last_error, "
    "created_at_ms, updated_at_ms"
)
#: Due now: pending and due, or claimed by a worker whose lease has ended. Both are "now".
_DUE = "((state = 'pending' AND due_at_ms <= ?) OR (state = 'sending' AND lease_until_ms < ?))"


def forward_row(event: Event, event_id: int, now: int) -> tuple[Any, ...]:
    """The ``FORWARD_COLUMNS`` of the forward of ``event`` (which has forward headers)."""
    return (
        event_id,
        event.source.value,
        json.dumps(event.forward_headers or {}, separators=(",", ":")),
        event.raw,
        ForwardState.PENDING.value,
        0,
        0,
        now,
        now,
        now,
    )


def enqueue_forward(conn: Db, event: Event, event_id: int, now: int) -> None:
    """Append the forward of ``event`` inside the callback's transaction."""
    conn.execute(
        f"INSERT INTO forwards ({FORWARD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        forward_row(event, event_id, now),
    )


def _record(row: Row) -> ForwardRecord:
    return msgspec.convert(row, ForwardRecord, strict=False)


def claim_forwards(conn: Db, *, limit: int, lease_ms: int, now: int) -> list[ClaimedForward]:
    """Claim up to ``limit`` due forwards, oldest due first; each claim bumps the fence."""
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres(conn) else ""
    found = rows(
        conn.execute(
            f"SELECT {_RECORD}, headers, body, fence FROM forwards WHERE {_DUE} "
            f"ORDER BY due_at_ms, id LIMIT ?{lock}",
            (now, now, limit),
        )
    )
    claimed: list[ClaimedForward] = []
    for row in found:
        lease_row(conn, "forwards", row, ForwardState.SENDING.value, now=now, lease_ms=lease_ms)
        row.update(headers=json.loads(row["headers"]), body=bytes(row["body"]))
        claimed.append(msgspec.convert(row, ClaimedForward, strict=False))
    return claimed


def finish_forward(
    conn: Db,
    claim: ClaimedForward,
    attempt: ForwardAttempt,
    now: int,
) -> bool:
    """Record an attempt's outcome; False when the claim's fence was taken over since."""
    cursor = conn.execute(
        "UPDATE forwards SET state = ?, due_at_ms = ?, lease_until_ms = NULL, last_status = ?, "
        "last_error = ?, updated_at_ms = ? WHERE id = ? AND fence = ?",
        (
            attempt.state.value,
            attempt.due_at_ms,
            attempt.status,
            attempt.error,
            now,
            claim.id,
            claim.fence,
        ),
    )
    return cursor.rowcount == 1


def release_claimed_forwards(conn: Db, now: int) -> int:
    """Every forward claimed (``sending``) back to pending, due now; how many.

    Only for a store one process owns (SQLite): at its start, a claim is a dead worker's.
    """
    cursor = conn.execute(
        "UPDATE forwards SET state = 'pending', lease_until_ms = NULL, due_at_ms = ?, "
        "updated_at_ms = ? WHERE state = 'sending'",
        (now, now),
    )
    return cursor.rowcount


def list_forwards(
    conn: Db, *, state: ForwardState | None, limit: int, cursor: int | None
) -> list[ForwardRecord]:
    """Forwards newest first, filtered by state, ``limit`` rows with ids below ``cursor``."""
    clause, params = where(
        ("state = ?", None if state is None else (state.value,)),
        ("id < ?", None if cursor is None else (cursor,)),
    )
    found = conn.execute(
        f"SELECT {_RECORD} FROM forwards {clause} ORDER BY id DESC LIMIT ?", (*params, limit)
    )
    return [_record(row) for row in rows(found)]


def get_forward(conn: Db, forward_id: int) -> ForwardRecord | None:
    """One forward, or None."""
    row = one(conn.execute(f"SELECT {_RECORD} FROM forwards WHERE id = ?", (forward_id,)))
    return None if row is None else _record(row)


def retry_dead_forwards(
    conn: Db, *, forward_id: int | None, limit: int, now: int
) -> list[ForwardRecord]:
    """Dead forwards (one, or the oldest ``limit``) back to pending, due now, attempts reset."""
    clause, params = where(
        ("state = ?", (ForwardState.DEAD.value,)),
        ("id = ?", None if forward_id is None else (forward_id,)),
    )
    select = f"SELECT id FROM forwards {clause} ORDER BY id LIMIT ?"
    ids = [row[0] for row in conn.execute(select, (*params, limit))]
    for item in ids:
        conn.execute(
            "UPDATE forwards SET state = 'pending', attempts = 0, due_at_ms = ?, "
            "updated_at_ms = ? WHERE id = ? AND state = 'dead'",
            (now, now, item),
        )
    return [found for item in ids if (found := get_forward(conn, item)) is not None]


def forward_counts(conn: Db) -> list[tuple[str, int]]:
    """(state, count) of the forwards not delivered (for the backlog and dead gauges)."""
    return [
        (str(row[0]), int(row[1]))
        for row in conn.execute(
            "SELECT state, COUNT(*) FROM forwards "
            "WHERE state IN ('pending', 'sending', 'dead') GROUP BY state"
        )
    ]
