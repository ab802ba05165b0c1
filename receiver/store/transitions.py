"""Relay transitions written by the API and by actions, one function each.

Each runs inside one writer transaction; the store's fenced methods check the job's
fence first, in the same transaction.
"""

from __future__ import annotations

from receiver.domain.followups import wind_down_jobs
from receiver.domain.plan import JobSpec
from receiver.domain.relay import PullToPushSpec, RecreatePolicy, Relay, RelaySpec
from receiver.domain.states import IngestState, JobAction, Provider, RelayOrigin, RelayState
from receiver.store.base import ClaimedJob, Conflict
from receiver.store.dialect import Db
from receiver.store.jobs import enqueue_job, mark_payload
from receiver.store.relays import (
    add_ingest,
    attach_task,
    get_relay,
    insert_relay,
    relay_by_name,
    retire_task,
    update_relay,
)
from receiver.store.rows import now_ms

__all__ = [
    "declare_relay",
    "record_adopted_config",
    "record_new_task",
    "request_relay_delete",
    "start_recreate_attempt",
]


def _relay(conn: Db, relay_id: str) -> Relay:
    relay = get_relay(conn, relay_id)
    if relay is None:  # relays are never removed, only marked deleted
        raise LookupError(f"relay {relay_id!r} vanished")
    return relay


def declare_relay(conn: Db, relay_id: str, spec: RelaySpec) -> Relay:
    """Insert a declared relay, link a running ingest, enqueue its create or adopt job."""
    adopt, ingest = spec.adopt, spec.trtc_ingest
    taken = relay_by_name(conn, spec.name.strip())
    if taken is not None:
        raise Conflict(f"a relay named {taken.name!r} exists (id {taken.id})")
    config = spec.pull_to_push or PullToPushSpec(Region=adopt.Region if adopt else None)
    region = adopt.Region if adopt is not None else str(config.Region)
    linked = ingest is not None and ingest.TaskId is not None
    relay = insert_relay(
        conn,
        Relay(
            id=relay_id,
            name=spec.name.strip(),
            state=RelayState.PENDING,
            origin=RelayOrigin.ADOPTED if adopt is not None else RelayOrigin.DECLARED,
            region=region,
            pull_to_push=config,
            trtc_ingest=None if linked else ingest,
            recreate=spec.recreate,
            destination=spec.destination,
            artc=spec.artc,
            artc_transcode=spec.artc_transcode,
        ),
    )
    if ingest is not None and ingest.TaskId is not None:
        add_ingest(
            conn,
            relay_id,
            sdk_app_id=ingest.SdkAppId,
            task_id=ingest.TaskId,
            state=IngestState.RUNNING,
            owned=False,
        )
    if adopt is not None:
        job = JobSpec(
            action=JobAction.ADOPT_TASK,
            relay_id=relay_id,
            provider=Provider.ALIYUN,
            task_id=adopt.TaskId,
            payload={"task_id": adopt.TaskId, "region": adopt.Region},
        )
    else:
        job = JobSpec(action=JobAction.CREATE_TASK, relay_id=relay_id)
    enqueue_job(conn, job, now=now_ms())
    return relay


def request_relay_delete(conn: Db, relay_id: str) -> Relay | None:
    """Mark a relay ``deleting`` and enqueue its ``delete_task`` job (once)."""
    relay = get_relay(conn, relay_id)
    if relay is None or relay.state in (RelayState.DELETING, RelayState.DELETED):
        return relay
    update_relay(conn, relay_id, state=RelayState.DELETING.value)
    enqueue_job(conn, JobSpec(action=JobAction.DELETE_TASK, relay_id=relay_id), now=now_ms())
    return _relay(conn, relay_id)


def record_new_task(conn: Db, relay_id: str, task_id: str) -> int:
    """Make ``task_id`` the relay's current task; a pending relay becomes active."""
    relay = _relay(conn, relay_id)
    generation = relay.generation
    if relay.current_task_id != task_id:
        generation += 1
        update_relay(conn, relay_id, current_task_id=task_id, generation=generation)
    if relay.state is RelayState.PENDING:
        update_relay(conn, relay_id, state=RelayState.ACTIVE.value)
    attach_task(conn, relay_id, task_id, generation=generation)
    return generation


def record_adopted_config(
    conn: Db, relay_id: str, task_id: str, config: PullToPushSpec, *, exited: bool
) -> None:
    """Keep a described configuration; a pending relay takes the task (and ends if exited)."""
    relay = _relay(conn, relay_id)
    update_relay(conn, relay_id, pull_to_push=relay.pull_to_push.merged(config))
    if relay.state is not RelayState.PENDING:
        return
    if relay.current_task_id != task_id:
        record_new_task(conn, relay_id, task_id)
    if exited:
        update_relay(conn, relay_id, state=RelayState.ENDED.value)


def start_recreate_attempt(
    conn: Db,
    job: ClaimedJob,
    relay_id: str,
    old_task_id: str,
    policy: RecreatePolicy,
    now: int,
) -> bool:
    """Count this attempt once (a re-run after a crash does not count again).

    Over budget, the relay fails and its ingests are stopped; the answer is then False.
    """
    if job.payload.get("counted"):
        return True
    relay = _relay(conn, relay_id)
    attempts = policy.recent_attempts(relay.recreate_attempts, now)
    if len(attempts) >= policy.max_attempts:
        update_relay(
            conn,
            relay_id,
            state=RelayState.FAILED.value,
            failure_reason=(
                f"gave up re-creating after {len(attempts)} attempts within "
                f"{policy.within_seconds}s (last reason: {job.payload.get('reason') or '?'})"
            ),
        )
        stop = JobSpec(
            action=JobAction.STOP_INGEST, relay_id=relay_id, payload={"reason": "failed"}
        )
        for spec in (stop, *wind_down_jobs(relay, "failed")):
            enqueue_job(conn, spec, now=now_ms())
        return False
    update_relay(conn, relay_id, recreate_attempts=[*attempts, now])
    mark_payload(conn, job.id, "counted")
    retire_task(conn, old_task_id)
    return True
