"""The outbox of follow-up jobs: enqueue, claim with a lease, finish, retry.

A claim bumps the job's ``fence``; every later write about that run says which fence it
holds and is refused when another claim has happened since (the lease expired and another
worker took the job). That keeps a slow, presumed-dead worker from overwriting the
outcome of the run that replaced it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence

import msgspec

from receiver.domain.followups import wind_down_jobs
from receiver.domain.lifecycle import state_after_job_death, state_after_job_retry
from receiver.domain.plan import JobSpec
from receiver.domain.records import JobRecord
from receiver.domain.states import JobState, RelayState
from receiver.store.base import ClaimedJob, LeaseLost, RunResult
from receiver.store.dialect import Db, is_postgres
from receiver.store.relays import get_relay, update_relay
from receiver.store.rows import Row, lease_row, now_ms, one, rows, where

__all__ = [
    "CLAIM_LOCK",
    "JOBS_CHANNEL",
    "check_fence",
    "claim_due_jobs",
    "enqueue_job",
    "finish_job",
    "get_job",
    "has_due_job",
    "job_counts_by_relay",
    "jobs_of_relay",
    "list_jobs",
    "mark_payload",
    "retry_dead_job",
    "retry_dead_jobs",
    "watch_enqueues",
]

#: Channel a PostgreSQL enqueue notifies, so runners waiting in any replica wake at once.
JOBS_CHANNEL = "relaywarden_jobs"
#: Advisory lock key serialising claims across replicas ("rwclaims" as an int64).
CLAIM_LOCK = 0x7277636C61696D73

#: The claim condition, the one place it is written: pending and due, or running with an
#: expired lease (its worker died). Both parameters are "now".
_DUE = "((state = 'pending' AND due_at_ms <= ?) OR (state = 'running' AND lease_until_ms < ?))"


def _job(row: Row) -> JobRecord:
    row["payload"] = json.loads(row["payload"])
    return msgspec.convert(row, JobRecord, strict=False)


def enqueue_job(conn: Db, spec: JobSpec, *, now: int, cause_event_id: int | None = None) -> int:
    """Insert a pending job; it becomes due ``spec.delay_seconds`` after ``now``."""
    row = conn.execute(
        "INSERT INTO jobs (action, relay_id, provider, task_id, payload, state, due_at_ms, "
        "cause_event_id, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        (
            str(spec.action),
            spec.relay_id,
            None if spec.provider is None else str(spec.provider),
            spec.task_id,
            json.dumps(spec.payload, separators=(",", ":")),
            JobState.PENDING.value,
            now + int(spec.delay_seconds * 1000),
            cause_event_id,
            now,
            now,
        ),
    ).fetchone()
    if is_postgres(conn):
        # Wakes idle runners of every replica when this transaction commits.
        conn.execute(f"NOTIFY {JOBS_CHANNEL}")
    return int(row[0])


def watch_enqueues(conn: sqlite3.Connection, enqueued: Callable[[int], None]) -> None:
    """Call ``enqueued(due_at_ms)`` whenever a write on ``conn`` makes a job pending (SQLite).

    Temporary triggers, so they exist for this connection only (the writer's) and catch
    every way a job becomes pending: enqueued, retried by the operator, or backed off.
    PostgreSQL's counterpart is the ``NOTIFY`` of :func:`enqueue_job`.
    """
    conn.create_function("relaywarden_job_pending", 1, enqueued)
    for name, when in (
        ("jobs_pending_insert", "AFTER INSERT ON jobs WHEN NEW.state = 'pending'"),
        (
            "jobs_pending_update",
            "AFTER UPDATE OF state, due_at_ms ON jobs WHEN NEW.state = 'pending'",
        ),
    ):
        conn.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS {name} {when} "
            "BEGIN SELECT relaywarden_job_pending(NEW.due_at_ms); END"
        )


def has_due_job(conn: Db, now: int) -> bool:
    """True when a claim at ``now`` would find a job (a cheap read before a write)."""
    return (
        conn.execute(f"SELECT 1 FROM jobs WHERE {_DUE} LIMIT 1", (now, now)).fetchone() is not None
    )


def claim_due_jobs(conn: Db, *, limit: int, lease_ms: int, now: int) -> list[ClaimedJob]:
    """Claim up to ``limit`` due jobs; at most one job per relay runs at a time.

    On PostgreSQL, replicas claim one after the other (a transaction-level advisory lock),
    so none of them can miss a relay another one just started a job for, and the due rows
    are taken ``FOR UPDATE SKIP LOCKED`` so a claim never waits on a job being written.
    """
    postgres = is_postgres(conn)
    if postgres:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (CLAIM_LOCK,))
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
            f"SELECT * FROM jobs WHERE {_DUE} ORDER BY due_at_ms, id LIMIT ?"
            + (" FOR UPDATE SKIP LOCKED" if postgres else ""),
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
        lease_row(conn, "jobs", row, JobState.RUNNING.value, now=now, lease_ms=lease_ms)
        row.update(payload=json.loads(row["payload"]), lease_ms=lease_ms)
        claimed.append(msgspec.convert(row, ClaimedJob, strict=False))
        if len(claimed) >= limit:
            break
    return claimed


def check_fence(conn: Db, job: ClaimedJob, *, extend: bool = True) -> None:
    """Raise LeaseLost unless this run still holds the job; extend the lease by default."""
    row = conn.execute("SELECT fence, state FROM jobs WHERE id = ?", (job.id,)).fetchone()
    if row is None or int(row[0]) != job.fence or row[1] != JobState.RUNNING:
        raise LeaseLost(f"job {job.id} was claimed again (fence {job.fence} is stale)")
    if extend:
        conn.execute(
            "UPDATE jobs SET lease_until_ms = ? WHERE id = ?", (now_ms() + job.lease_ms, job.id)
        )


def mark_payload(conn: Db, job_id: int, key: str, value: int | str = 1) -> None:
    """Set ``payload[key] = value`` (1 by default): a durable note a re-run of the job reads."""
    encoded = json.dumps(value)
    if is_postgres(conn):
        conn.execute(
            "UPDATE jobs SET payload = (payload::jsonb || jsonb_build_object(?::text, ?::jsonb))"
            "::text WHERE id = ?",
            (key, encoded, job_id),
        )
    else:
        conn.execute(
            "UPDATE jobs SET payload = json_set(payload, ?, json(?)) WHERE id = ?",
            (f"$.{key}", encoded, job_id),
        )


def finish_job(conn: Db, job: ClaimedJob, result: RunResult) -> None:
    """Record a run's outcome (see ``RunResult``); a dead job that was to give its relay a
    task fails the relay.
    """
    check_fence(conn, job, extend=False)
    state, error, throttled = result.state, result.error, result.throttled
    conn.execute(
        "UPDATE jobs SET state = ?, last_error = ?, due_at_ms = COALESCE(?, due_at_ms), "
        "lease_until_ms = NULL, attempts = attempts - ?, throttled = throttled + ?, "
        "updated_at_ms = ? WHERE id = ?",
        (state.value, error, result.due_at_ms, int(throttled), int(throttled), now_ms(), job.id),
    )
    if state is JobState.DEAD and job.relay_id is not None:
        relay = get_relay(conn, job.relay_id)
        if relay is not None and state_after_job_death(relay, job.action) is not None:
            reason = f"{job.action} job #{job.id} is dead: {error or 'no reason given'}"
            update_relay(conn, job.relay_id, state=RelayState.FAILED.value, failure_reason=reason)
            for spec in wind_down_jobs(relay, "failed"):
                enqueue_job(conn, spec, now=now_ms())


def get_job(conn: Db, job_id: int) -> JobRecord | None:
    """One job, or None."""
    row = one(conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)))
    return None if row is None else _job(row)


def list_jobs(
    conn: Db, *, state: JobState | None, limit: int, cursor: int | None
) -> list[JobRecord]:
    """Jobs newest first, optionally in one state."""
    condition, params = where(
        ("state = ?", (state.value,) if state else None),
        ("id < ?", None if cursor is None else (cursor,)),
    )
    sql = f"SELECT * FROM jobs {condition} ORDER BY id DESC LIMIT ?"
    found = rows(conn.execute(sql, (*params, limit)))
    return [_job(row) for row in found]


def jobs_of_task(conn: Db, provider: str, task_id: str) -> list[JobRecord]:
    """The jobs a task's events caused, oldest first."""
    found = rows(
        conn.execute(
            "SELECT * FROM jobs WHERE provider = ? AND task_id = ? ORDER BY id", (provider, task_id)
        )
    )
    return [_job(row) for row in found]


def jobs_of_relay(conn: Db, relay_id: str, *, limit: int) -> list[JobRecord]:
    """A relay's jobs, newest first."""
    sql = "SELECT * FROM jobs WHERE relay_id = ? ORDER BY id DESC LIMIT ?"
    return [_job(row) for row in rows(conn.execute(sql, (relay_id, limit)))]


def job_counts_by_relay(conn: Db, relay_ids: Sequence[str]) -> dict[str, dict[JobState, int]]:
    """How many jobs each of ``relay_ids`` has in each state (relays without jobs left out)."""
    counts: dict[str, dict[JobState, int]] = {}
    for start in range(0, len(relay_ids), 500):  # SQLite's bound-parameter limit
        chunk = relay_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        sql = (
            f"SELECT relay_id, state, COUNT(*) FROM jobs WHERE relay_id IN ({marks}) "
            "GROUP BY relay_id, state"
        )
        for relay_id, state, n in conn.execute(sql, tuple(chunk)):
            counts.setdefault(str(relay_id), {})[JobState(state)] = int(n)
    return counts


def retry_dead_job(conn: Db, job_id: int) -> JobRecord | None:
    """Put a dead job back in the queue, due now, with a fresh attempt budget.

    Returns the updated job, or None when there is no dead job of that id. A relay the job's
    death had failed is managed again.
    """
    now = now_ms()
    cursor = conn.execute(
        "UPDATE jobs SET state = 'pending', attempts = 0, throttled = 0, due_at_ms = ?, "
        "updated_at_ms = ? WHERE id = ? AND state = 'dead'",
        (now, now, job_id),
    )
    job = None if cursor.rowcount == 0 else get_job(conn, job_id)
    relay = None if job is None or job.relay_id is None else get_relay(conn, job.relay_id)
    if job is not None and relay is not None:
        state = state_after_job_retry(relay, job.action)
        if state is not None:
            update_relay(conn, relay.id, state=state.value, failure_reason=None)
    return job


def retry_dead_jobs(
    conn: Db, *, relay_id: str | None, action: str | None, limit: int
) -> list[JobRecord]:
    """Retry up to ``limit`` dead jobs (oldest first), optionally of one relay or action."""
    condition, params = where(
        ("state = ?", (JobState.DEAD.value,)),
        ("relay_id = ?", None if relay_id is None else (relay_id,)),
        ("action = ?", None if action is None else (action,)),
    )
    found = conn.execute(f"SELECT id FROM jobs {condition} ORDER BY id LIMIT ?", (*params, limit))
    retried = [retry_dead_job(conn, int(job_id)) for (job_id,) in found.fetchall()]
    return [job for job in retried if job is not None]
