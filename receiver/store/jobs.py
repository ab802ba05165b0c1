"""The outbox of follow-up jobs (SQLite): enqueue, claim with a lease, finish, retry.

A claim bumps the job's ``fence``; every later write about that run says which fence it
holds and is refused when another claim has happened since (the lease expired and another
worker took the job). That keeps a slow, presumed-dead worker from overwriting the
outcome of the run that replaced it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from receiver.store.base import JobSpec
from receiver.store.rows import now_ms, one, rows

__all__ = [
    "JOB_STATES",
    "ClaimedJob",
    "LeaseLost",
    "check_fence",
    "claim_due_jobs",
    "enqueue_job",
    "finish_job",
    "get_job",
    "list_jobs",
    "retry_dead_job",
]

JOB_STATES = ("pending", "running", "succeeded", "dead")


class LeaseLost(Exception):
    """The job was claimed again by someone else; this run must stop writing."""


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job as handed to a worker: its row plus the fence of this claim."""

    id: int
    action: str
    relay_id: str | None
    provider: str | None
    task_id: str | None
    payload: dict[str, Any]
    attempts: int
    throttled: int
    fence: int
    created_at_ms: int


def enqueue_job(
    conn: sqlite3.Connection, spec: JobSpec, *, now: int, cause_event_id: int | None = None
) -> int:
    """Insert a pending job; it becomes due ``spec.delay_seconds`` after ``now``."""
    cursor = conn.execute(
        "INSERT INTO jobs (action, relay_id, provider, task_id, payload, state, due_at_ms, "
        "cause_event_id, created_at_ms, updated_at_ms) "
        "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        (
            spec.action,
            spec.relay_id,
            spec.provider,
            spec.task_id,
            json.dumps(spec.payload, separators=(",", ":")),
            now + int(spec.delay_seconds * 1000),
            cause_event_id,
            now,
            now,
        ),
    )
    return int(cursor.lastrowid or 0)


def claim_due_jobs(
    conn: sqlite3.Connection, *, limit: int, lease_ms: int, now: int | None = None
) -> list[ClaimedJob]:
    """Claim up to ``limit`` due jobs: pending ones whose time has come, and running ones
    whose lease expired (their worker died). At most one job per relay runs at a time.
    """
    now = now_ms() if now is None else now
    busy = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT relay_id FROM jobs WHERE state = 'running' "
            "AND lease_until_ms >= ? AND relay_id IS NOT NULL",
            (now,),
        )
    }
    candidates = rows(
        conn.execute(
            "SELECT * FROM jobs WHERE (state = 'pending' AND due_at_ms <= ?) "
            "OR (state = 'running' AND lease_until_ms < ?) ORDER BY due_at_ms, id LIMIT ?",
            (now, now, limit * 4),
        )
    )
    claimed: list[ClaimedJob] = []
    for row in candidates:
        relay_id = row["relay_id"]
        if relay_id is not None and relay_id in busy:
            continue
        if relay_id is not None:
            busy.add(relay_id)
        fence = int(row["fence"]) + 1
        conn.execute(
            "UPDATE jobs SET state = 'running', fence = ?, attempts = attempts + 1, "
            "lease_until_ms = ?, updated_at_ms = ? WHERE id = ?",
            (fence, now + lease_ms, now, row["id"]),
        )
        claimed.append(
            ClaimedJob(
                id=int(row["id"]),
                action=str(row["action"]),
                relay_id=relay_id,
                provider=row["provider"],
                task_id=row["task_id"],
                payload=json.loads(row["payload"]),
                attempts=int(row["attempts"]) + 1,
                throttled=int(row["throttled"]),
                fence=fence,
                created_at_ms=int(row["created_at_ms"]),
            )
        )
        if len(claimed) >= limit:
            break
    return claimed


def check_fence(
    conn: sqlite3.Connection, job_id: int, fence: int, *, extend_lease_ms: int | None = None
) -> None:
    """Raise LeaseLost unless this run still holds the job; optionally extend the lease."""
    row = conn.execute("SELECT fence, state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None or int(row[0]) != fence or row[1] != "running":
        raise LeaseLost(f"job {job_id} was claimed again (fence {fence} is stale)")
    if extend_lease_ms is not None:
        conn.execute(
            "UPDATE jobs SET lease_until_ms = ? WHERE id = ?", (now_ms() + extend_lease_ms, job_id)
        )


def finish_job(
    conn: sqlite3.Connection,
    job_id: int,
    fence: int,
    *,
    state: str,
    error: str | None = None,
    due_at_ms: int | None = None,
    throttled: bool = False,
) -> None:
    """Record a run's outcome: ``succeeded``, ``dead``, or ``pending`` again at ``due_at_ms``.

    A throttled run gives its attempt back: throttling is the provider pacing us, not a
    failure of the job.
    """
    check_fence(conn, job_id, fence)
    conn.execute(
        "UPDATE jobs SET state = ?, last_error = ?, due_at_ms = COALESCE(?, due_at_ms), "
        "lease_until_ms = NULL, attempts = attempts - ?, throttled = throttled + ?, "
        "updated_at_ms = ? WHERE id = ?",
        (state, error, due_at_ms, int(throttled), int(throttled), now_ms(), job_id),
    )


def get_job(conn: sqlite3.Connection, job_id: int) -> dict[str, Any] | None:
    """One job row, or None."""
    return one(conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)))


def list_jobs(
    conn: sqlite3.Connection, *, state: str | None, limit: int, cursor: int | None
) -> list[dict[str, Any]]:
    """Jobs newest first, optionally in one state."""
    clauses: list[str] = []
    params: list[Any] = []
    if state:
        clauses.append("state = ?")
        params.append(state)
    if cursor is not None:
        clauses.append("id < ?")
        params.append(cursor)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    return rows(conn.execute(f"SELECT * FROM jobs {where} ORDER BY id DESC LIMIT ?", tuple(params)))


def retry_dead_job(conn: sqlite3.Connection, job_id: int) -> dict[str, Any] | None:
    """Put a dead job back in the queue, due now, with a fresh attempt budget.

    Returns the updated row, or None when there is no dead job of that id.
    """
    cursor = conn.execute(
        "UPDATE jobs SET state = 'pending', attempts = 0, throttled = 0, due_at_ms = ?, "
        "updated_at_ms = ? WHERE id = ? AND state = 'dead'",
        (now_ms(), now_ms(), job_id),
    )
    if cursor.rowcount == 0:
        return None
    return get_job(conn, job_id)
