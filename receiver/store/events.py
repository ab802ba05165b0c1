"""The callback transaction: append the event, order it, plan, apply the plan.

The ordering rule is ``receiver.domain.ordering.apply_order``; this module only reads the
task's state, asks it, and writes the answer. The relay lifecycle (a relay ends with its
task) is ``receiver.domain.lifecycle``, applied after the rules so they see the change.
"""

from __future__ import annotations

from typing import Any

import structlog

from receiver.domain.adoption import AdoptionLimits
from receiver.domain.lifecycle import state_after_task_status
from receiver.domain.numbers import row_int
from receiver.domain.ordering import TaskState, apply_order
from receiver.domain.plan import Plan, PlanInput, Planner, TaskChange
from receiver.domain.states import EventKind, Provider, Status
from receiver.events import Event
from receiver.store.adoption_bounds import bound_adoption
from receiver.store.base import IngestResult
from receiver.store.dialect import Db, is_postgres
from receiver.store.forwards import enqueue_forward
from receiver.store.ingests import apply_ingest_update, claimable_start, ingest_by_task
from receiver.store.jobs import enqueue_job
from receiver.store.relays import (
    claim_task,
    get_relay,
    has_ingests,
    insert_relay,
    relay_task,
    set_task_region,
    update_relay,
)
from receiver.store.scope_queries import check_scope

__all__ = ["apply_event", "apply_healing_plan", "event_row", "ingest_input"]

log = structlog.get_logger("relaywarden.store")


def event_row(event: Event, order_time: int, applied: bool, now: int) -> tuple[Any, ...]:
    """The ``events`` columns from ``dedupe_key`` to ``raw``, in table order, for ``event``."""
    return (
        event.dedupe_key,
        event.source.value,
        event.provider.value,
        event.task_id,
        event.kind.value,
        event.status.value,
        event.reason,
        event.provider_status,
        event.event_time_ms,
        order_time,
        now,
        int(applied),
        event.raw,
    )


def _record(conn: Db, event: Event, order_time: int, applied: bool, now: int) -> int | None:
    """Append the event to the history; None when it is a duplicate.

    The unique dedupe key decides: on PostgreSQL an identical insert committing in another
    replica makes this one wait for that commit and then do nothing.
    """
    row = conn.execute(
        "INSERT INTO events (dedupe_key, source, provider, task_id, kind, status, reason, "
        "provider_status, event_time_ms, order_time_ms, received_at_ms, applied, raw) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        event_row(event, order_time, applied, now),
    ).fetchone()
    return None if row is None else int(row[0])


def apply_event(
    conn: Db,
    event: Event,
    planner: Planner | None,
    now: int,
    limits: AdoptionLimits | None = None,
) -> IngestResult:
    """Append ``event``, move its task's state if the ordering rule allows, plan follow-ups.

    Runs inside the writer's transaction. A duplicate (same dedupe key) changes nothing; an
    event its per-relay token does not cover raises ``OutOfScope`` before anything is
    written; an adoption beyond ``limits`` is dropped from the plan.
    """
    order_time = event.event_time_ms if event.event_time_ms is not None else now
    key = (event.provider.value, event.task_id)
    if is_postgres(conn):
        # Replicas order a task's events one at a time: the lock covers a task row that does
        # not exist yet, and the row lock the state once it does.
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (":".join(key),))
    row = conn.execute(
        "SELECT status, reason, state_order_time_ms FROM tasks WHERE provider = ? AND task_id = ?"
        + (" FOR UPDATE" if is_postgres(conn) else ""),
        key,
    ).fetchone()
    if event.scope_relay is not None:
        check_scope(conn, event, relay_task(conn, *key))  # before anything is written
    current = None if row is None else TaskState(Status(row[0]), int(row[2]))
    moved = apply_order(current, event.status, order_time)
    event_id = _record(conn, event, order_time, moved is not None, now)
    if event_id is None:
        return IngestResult(duplicate=True, event_id=None, change=None)
    if event.forward_headers is not None:  # forwarding is on: the outbox copy, same commit
        enqueue_forward(conn, event, event_id, now)
    if moved is not None and row is None:
        conn.execute(
            "INSERT INTO tasks (provider, task_id, status, reason, state_event_id, "
            "state_order_time_ms, first_seen_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, moved.status.value, event.reason, event_id, moved.order_time_ms, now, now),
        )
    elif moved is not None:
        conn.execute(
            "UPDATE tasks SET status = ?, reason = ?, state_event_id = ?, "
            "state_order_time_ms = ?, updated_at_ms = ? WHERE provider = ? AND task_id = ?",
            (moved.status.value, event.reason, event_id, moved.order_time_ms, now, *key),
        )
    change = TaskChange(
        event=event,
        event_id=event_id,
        previous_status=None if current is None else current.status,
        previous_reason=None if row is None else row[1],
        applied=moved is not None,
    )
    job_ids: tuple[int, ...] = ()
    if planner is not None and change.applied:
        # A failing rule must not cost us the event: its writes are undone, the event and
        # the state change stay, and the failure is logged for the operator.
        conn.execute("SAVEPOINT planner")
        try:
            job_ids = _plan_and_apply(conn, planner, change, now, limits)
        except Exception:
            conn.execute("ROLLBACK TO planner")
            log.exception("rules_failed", provider=event.provider.value, task_id=event.task_id)
        conn.execute("RELEASE planner")
    if change.applied:
        _follow_task(conn, event)
    return IngestResult(duplicate=False, event_id=event_id, change=change, job_ids=job_ids)


def _plan_and_apply(
    conn: Db, planner: Planner, change: TaskChange, now: int, limits: AdoptionLimits | None
) -> tuple[int, ...]:
    event = change.event
    if event.provider is Provider.TRTC:
        given = ingest_input(conn, change, now)
    else:
        link = relay_task(conn, event.provider.value, event.task_id)
        relay = get_relay(conn, link.relay_id) if link is not None else None
        linked = relay is not None
        if relay is None and event.context.get("relay"):
            relay = get_relay(conn, event.context["relay"])
        given = PlanInput(
            change=change,
            link=link,
            relay=relay,
            linked=linked,
            has_ingests=relay is not None and has_ingests(conn, relay.id),
            now_ms=now,
        )
    plan: Plan = bound_adoption(conn, planner(given), limits, event.task_id, now)
    if plan.new_relay is not None:
        insert_relay(conn, plan.new_relay)
    if plan.claimed is not None:
        claim_task(conn, plan.claimed)
    apply_healing_plan(conn, plan, given, now)
    return tuple(
        enqueue_job(conn, spec, now=now, cause_event_id=change.event_id) for spec in plan.jobs
    )


def apply_healing_plan(conn: Db, plan: Plan, given: PlanInput, now: int) -> None:
    """Write the self-healing part of a plan: a task's region, ingest changes, a restart."""
    if plan.task_region is not None:
        set_task_region(conn, given.change.event.task_id, plan.task_region)
    for update in plan.ingests:
        apply_ingest_update(conn, update)
    if plan.ingest_restart and given.relay is not None:
        restarts = given.relay.recreate.recent_attempts(given.relay.ingest_restarts, now)
        update_relay(conn, given.relay.id, ingest_restarts=[*restarts, now])


def ingest_input(conn: Db, change: TaskChange, now: int) -> PlanInput:
    """What the planner reads about a TRTC event: the ingest link and its relay."""
    event = change.event
    sdk_app_id = _int_or_none(event.context.get("sdk_app_id"))
    ingest = ingest_by_task(conn, event.task_id, sdk_app_id)
    claimable = None
    if ingest is None and event.kind is EventKind.INGEST_START:
        claimable = claimable_start(conn, sdk_app_id)
    owner = ingest or claimable
    relay = get_relay(conn, owner.relay_id) if owner is not None else None
    return PlanInput(
        change=change,
        link=None,
        relay=relay,
        linked=relay is not None,
        has_ingests=owner is not None,
        now_ms=now,
        ingest=ingest,
        claimable=claimable,
    )


def _int_or_none(text: str | None) -> int | None:
    return row_int(text.strip()) if text is not None else None


def _follow_task(conn: Db, event: Event) -> None:
    """The relay lifecycle: a relay whose current task exited has ended."""
    link = relay_task(conn, event.provider.value, event.task_id)
    relay = get_relay(conn, link.relay_id) if link is not None else None
    if relay is None:
        return
    state = state_after_task_status(relay, link, event.task_id, event.status)
    if state is not None:
        update_relay(conn, relay.id, state=state.value)
