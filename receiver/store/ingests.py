"""TRTC ingest links beyond the basics (both backends): starts awaiting their TaskId, and updates.

A start whose answer was lost (it answered ``FailedOperation.TaskExist`` when retried) is
kept as a link without a TaskId; the next 701 callback whose TaskId no link owns names it.
Only one relay at a time awaits an id per SdkAppId, so that 701 can only be its.
"""

from __future__ import annotations

import msgspec

from receiver.domain.plan import IngestUpdate
from receiver.domain.records import IngestLink
from receiver.domain.states import IngestState, JobAction, JobState
from receiver.store.dialect import Db, is_postgres
from receiver.store.rows import now_ms, one

__all__ = [
    "apply_ingest_update",
    "awaiting_other",
    "begin_start",
    "claimable_start",
    "get_ingest",
    "ingest_by_task",
    "mark_awaiting",
]

#: States of a link that has no TaskId yet and may take one from a 701.
_UNNAMED = (IngestState.STARTING.value, IngestState.AWAITING_ID.value)


def _link(row: dict[str, object] | None) -> IngestLink | None:
    return None if row is None else msgspec.convert(row, IngestLink, strict=False)


def get_ingest(conn: Db, link_id: int) -> IngestLink | None:
    """One ingest link, or None."""
    return _link(one(conn.execute("SELECT * FROM ingests WHERE id = ?", (link_id,))))


def ingest_by_task(conn: Db, task_id: str, sdk_app_id: int | None) -> IngestLink | None:
    """The link that owns a TRTC TaskId (within an SdkAppId when it is known)."""
    sql = "SELECT * FROM ingests WHERE task_id = ?"
    params: tuple[object, ...] = (task_id,)
    if sdk_app_id is not None:
        sql += " AND sdk_app_id = ?"
        params = (task_id, sdk_app_id)
    return _link(one(conn.execute(sql + " ORDER BY id DESC LIMIT 1", params)))


def claimable_start(conn: Db, sdk_app_id: int | None) -> IngestLink | None:
    """The start that an unowned 701 names: awaiting ones first, oldest first."""
    sql = (
        "SELECT * FROM ingests WHERE task_id IS NULL AND state IN (?, ?)"
        + ("" if sdk_app_id is None else " AND sdk_app_id = ?")
        + " ORDER BY state = ? DESC, id LIMIT 1"
    )
    params: list[object] = list(_UNNAMED)
    if sdk_app_id is not None:
        params.append(sdk_app_id)
    params.append(IngestState.AWAITING_ID.value)
    return _link(one(conn.execute(sql, tuple(params))))


def awaiting_other(conn: Db, relay_id: str, sdk_app_id: int) -> IngestLink | None:
    """Another relay's start on the same SdkAppId that still awaits its TaskId, if any."""
    row = one(
        conn.execute(
            "SELECT * FROM ingests WHERE sdk_app_id = ? AND relay_id != ? AND state = ? "
            "AND task_id IS NULL ORDER BY id LIMIT 1",
            (sdk_app_id, relay_id, IngestState.AWAITING_ID.value),
        )
    )
    return _link(row)


def begin_start(conn: Db, relay_id: str, sdk_app_id: int) -> int:
    """The link of a start about to be sent: the relay's unnamed one, else a new one."""
    row = conn.execute(
        "SELECT id FROM ingests WHERE relay_id = ? AND sdk_app_id = ? AND task_id IS NULL "
        "AND state IN (?, ?) ORDER BY id LIMIT 1",
        (relay_id, sdk_app_id, *_UNNAMED),
    ).fetchone()
    if row is not None:
        return int(row[0])
    now = now_ms()
    inserted = conn.execute(
        "INSERT INTO ingests (relay_id, sdk_app_id, task_id, state, owned, created_at_ms, "
        "updated_at_ms) VALUES (?, ?, NULL, ?, 1, ?, ?) RETURNING id",
        (relay_id, sdk_app_id, IngestState.STARTING.value, now, now),
    ).fetchone()
    return int(inserted[0])


def mark_awaiting(conn: Db, link_id: int, reason: str) -> None:
    """The start answered TaskExist: the link awaits its TaskId from now on."""
    now = now_ms()
    conn.execute(
        "UPDATE ingests SET state = ?, reason = ?, awaiting_since_ms = COALESCE("
        "awaiting_since_ms, ?), updated_at_ms = ? WHERE id = ? AND task_id IS NULL",
        (IngestState.AWAITING_ID.value, reason, now, now, link_id),
    )


def apply_ingest_update(conn: Db, update: IngestUpdate) -> None:
    """Write one planned (or action's) change to an ingest link."""
    fields: dict[str, object] = {}
    if update.task_id is not None:
        fields["task_id"] = update.task_id
        fields["awaiting_since_ms"] = None
    if update.state is not None:
        fields["state"] = update.state.value
    if update.failures is not None:
        fields["failures"] = update.failures
    if update.reason is not None:
        fields["reason"] = update.reason or None
    if not fields:
        return
    names = ", ".join(f"{name} = ?" for name in fields)
    now = now_ms()
    conn.execute(
        f"UPDATE ingests SET {names}, updated_at_ms = ? WHERE id = ?",
        (*fields.values(), now, update.link_id),
    )
    if update.task_id is not None:  # named: the bound on waiting for the name is moot
        link = (
            "(payload::jsonb ->> 'link')::bigint"
            if is_postgres(conn)
            else "json_extract(payload, '$.link')"
        )
        conn.execute(
            "UPDATE jobs SET state = ?, last_error = ?, updated_at_ms = ? WHERE action = ? "
            f"AND state = ? AND {link} = ?",
            (
                JobState.SKIPPED.value,
                "skipped: the ingest's TaskId arrived",
                now,
                JobAction.AWAIT_INGEST_ID.value,
                JobState.PENDING.value,
                update.link_id,
            ),
        )
