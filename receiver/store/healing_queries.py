"""Reads of the reconciler and the retention's pruning (both backends).

Pruning deletes in small batches, one short transaction each, so callbacks keep
committing between them; it never touches the state of tasks, relays or their links.
"""

from __future__ import annotations

from receiver.domain.records import ReconcileTarget
from receiver.domain.states import JobState, Provider, RelayState, Status
from receiver.store.dialect import Db
from receiver.store.relays import get_relay, ingests_of, relay_task

__all__ = ["PRUNABLE", "known_task_ids", "prune_batch", "reconcile_targets"]


def reconcile_targets(conn: Db) -> list[ReconcileTarget]:
    """Every active relay with its current task's stored status and region, and ingests."""
    ids = [
        str(row[0])
        for row in conn.execute(
            "SELECT id FROM relays WHERE state = ? ORDER BY created_at_ms, id",
            (RelayState.ACTIVE.value,),
        )
    ]
    targets: list[ReconcileTarget] = []
    for relay_id in ids:
        relay = get_relay(conn, relay_id)
        if relay is None:
            continue
        status: Status | None = None
        reason, region = "", None
        if relay.current_task_id:
            row = conn.execute(
                "SELECT status, reason FROM tasks WHERE provider = ? AND task_id = ?",
                (Provider.ALIYUN.value, relay.current_task_id),
            ).fetchone()
            if row is not None:
                status, reason = Status(row[0]), str(row[1])
            link = relay_task(conn, Provider.ALIYUN.value, relay.current_task_id)
            region = None if link is None else link.region
        targets.append(
            ReconcileTarget(
                relay=relay,
                task_status=status,
                task_reason=reason,
                task_region=region,
                ingests=ingests_of(conn, relay_id),
            )
        )
    return targets


def known_task_ids(conn: Db, task_ids: list[str]) -> set[str]:
    """Which of these Alibaba task ids some relay knows."""
    known: set[str] = set()
    for start in range(0, len(task_ids), 500):
        chunk = task_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        known.update(
            str(row[0])
            for row in conn.execute(
                f"SELECT task_id FROM relay_tasks WHERE provider = ? AND task_id IN ({marks})",
                (Provider.ALIYUN.value, *chunk),
            )
        )
    return known


_ENDED_RELAYS = (RelayState.ENDED.value, RelayState.DELETED.value, RelayState.FAILED.value)
_FINISHED_JOBS = (JobState.SUCCEEDED.value, JobState.SKIPPED.value, JobState.DEAD.value)

#: What retention prunes: (name, SQL selecting the ids of old rows; ``?`` = cutoff ms).
#: Events go only when their task belongs to no relay that is still managed; a task's
#: state row never goes, and neither does the event its state reflects.
PRUNABLE: tuple[tuple[str, str, tuple[object, ...]], ...] = (
    (
        "events",
        "SELECT e.id FROM events e WHERE e.received_at_ms < ? "
        "AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.state_event_id = e.id) "
        "AND NOT EXISTS (SELECT 1 FROM relay_tasks rt JOIN relays r ON r.id = rt.relay_id "
        "WHERE rt.provider = e.provider AND rt.task_id = e.task_id "
        f"AND r.state NOT IN ({', '.join('?' for _ in _ENDED_RELAYS)})) "
        "AND NOT EXISTS (SELECT 1 FROM ingests i JOIN relays r ON r.id = i.relay_id "
        "WHERE e.provider = 'trtc' AND i.task_id = e.task_id "
        f"AND r.state NOT IN ({', '.join('?' for _ in _ENDED_RELAYS)})) LIMIT ?",
        (*_ENDED_RELAYS, *_ENDED_RELAYS),
    ),
    (
        "unrecognized",
        "SELECT id FROM unrecognized WHERE received_at_ms < ? LIMIT ?",
        (),
    ),
    (
        "jobs",
        "SELECT id FROM jobs WHERE updated_at_ms < ? "
        f"AND state IN ({', '.join('?' for _ in _FINISHED_JOBS)}) LIMIT ?",
        _FINISHED_JOBS,
    ),
    (
        "forwards",
        "SELECT id FROM forwards WHERE updated_at_ms < ? AND state = 'delivered' LIMIT ?",
        (),
    ),
)


def prune_batch(conn: Db, older_than_ms: int, batch: int) -> dict[str, int]:
    """Delete up to ``batch`` old rows of each prunable kind, and empty up to ``batch`` old
    raw bodies; rows by kind (``raw``: bodies emptied)."""
    deleted: dict[str, int] = {}
    for name, select, extra in PRUNABLE:
        ids = [row[0] for row in conn.execute(select, (older_than_ms, *extra, batch))]
        if ids:
            marks = ", ".join("?" for _ in ids)
            conn.execute(f"DELETE FROM {name} WHERE id IN ({marks})", ids)
        deleted[name] = len(ids)
    # Old events that stay (their relay is still managed) keep their facts, not their body.
    cursor = conn.execute(
        "UPDATE events SET raw = ? WHERE id IN (SELECT id FROM events "
        "WHERE received_at_ms < ? AND length(raw) > 0 LIMIT ?)",
        (b"", older_than_ms, batch),
    )
    deleted["raw"] = cursor.rowcount
    return deleted
