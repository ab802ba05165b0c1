"""The SQLite callback transaction: append events, order them, plan, apply the plans.

The writer hands ``EventBatch`` every callback of one group commit together. Each event is
decided in turn, exactly as if it had its own transaction: the ordering rule
(``receiver.domain.ordering.apply_order``) against the task's state, then the planner, then
the relay lifecycle (``receiver.domain.lifecycle``: a relay ends with its task). What they
read comes from the writer's cache; the events and task states are written with one
multi-row statement each at the end (or before anything else is written, so every other
statement sees the rows of the events before it).

PostgreSQL replicas use the one-event transaction of ``receiver.store.events`` instead:
its row locks and advisory locks order a task's events across replicas, which this
writer-local cache could not see.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

import structlog

from receiver.domain.adoption import AdoptionLimits
from receiver.domain.lifecycle import state_after_task_status
from receiver.domain.ordering import TaskState, apply_order
from receiver.domain.plan import PlanInput, Planner, TaskChange
from receiver.domain.scope import OutOfScope
from receiver.domain.states import Provider
from receiver.events import Event
from receiver.store.adoption_bounds import bound_adoption
from receiver.store.base import IngestResult
from receiver.store.cache import TaskKey, WriterCache
from receiver.store.events import apply_healing_plan, event_row, ingest_input
from receiver.store.forwards import FORWARD_COLUMNS, forward_row
from receiver.store.jobs import enqueue_job
from receiver.store.relays import claim_task, insert_relay, update_relay
from receiver.store.scope_queries import check_scope

__all__ = ["EventBatch"]

log = structlog.get_logger("relaywarden.store")

_EVENT_COLUMNS = (
    "id, dedupe_key, source, provider, task_id, kind, status, reason, provider_status, "
    "event_time_ms, order_time_ms, received_at_ms, applied, raw"
)
_TASK_COLUMNS = (
    "provider, task_id, status, reason, state_event_id, state_order_time_ms, first_seen_ms, "
    "updated_at_ms"
)
#: Rows per statement: far below SQLite's limit on bound parameters (32,766).
_CHUNK = 256
_DUPLICATE = IngestResult(duplicate=True, event_id=None, change=None)


def _values(columns: int, rows: int) -> str:
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


@functools.lru_cache(maxsize=_CHUNK)
def _insert_events(rows: int) -> str:
    return f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES {_values(14, rows)}"


@functools.lru_cache(maxsize=_CHUNK)
def _insert_forwards(rows: int) -> str:
    return f"INSERT INTO forwards ({FORWARD_COLUMNS}) VALUES {_values(10, rows)}"


@functools.lru_cache(maxsize=_CHUNK)
def _upsert_tasks(rows: int) -> str:
    # first_seen_ms is kept on conflict: it is the first sighting.
    return (
        f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES {_values(8, rows)} "
        "ON CONFLICT (provider, task_id) DO UPDATE SET status = excluded.status, "
        "reason = excluded.reason, state_event_id = excluded.state_event_id, "
        "state_order_time_ms = excluded.state_order_time_ms, "
        "updated_at_ms = excluded.updated_at_ms"
    )


@functools.lru_cache(maxsize=_CHUNK)
def _known_keys(rows: int) -> str:
    return f"SELECT dedupe_key FROM events WHERE dedupe_key IN ({', '.join('?' * rows)})"


def _write_rows(conn: sqlite3.Connection, sql: Any, rows: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        conn.execute(sql(len(chunk)), [value for row in chunk for value in row])


class _Pending:
    """Event, task and forward rows decided but not yet written."""

    __slots__ = ("events", "forwards", "tasks")

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.tasks: dict[TaskKey, tuple[Any, ...]] = {}
        self.forwards: list[tuple[Any, ...]] = []

    def flush(self, conn: sqlite3.Connection, cache: WriterCache) -> None:
        if not (self.events or self.tasks or self.forwards):
            return
        cache.own_writes(conn, True)
        try:
            if self.events:
                _write_rows(conn, _insert_events, self.events)
                self.events.clear()
            if self.tasks:
                _write_rows(conn, _upsert_tasks, list(self.tasks.values()))
                self.tasks.clear()
            if self.forwards:
                _write_rows(conn, _insert_forwards, self.forwards)
                self.forwards.clear()
        finally:
            cache.own_writes(conn, False)


class EventBatch:
    """The writer's ingest group: ``(event, now_ms)`` items in, one ``IngestResult`` each."""

    def __init__(
        self, planner: Planner | None, cache: WriterCache, limits: AdoptionLimits | None = None
    ) -> None:
        self.planner = planner
        self.cache = cache
        self.limits = limits

    def __call__(
        self, conn: sqlite3.Connection, items: Sequence[tuple[Event, int]]
    ) -> list[IngestResult | OutOfScope]:
        """One result per item; an item its token does not cover gets its ``OutOfScope``
        (nothing of it is written, the other items go on)."""
        self.cache.check(conn)
        keys = [event.dedupe_key for event, _ in items]
        seen = self._known(conn, keys)
        pending = _Pending()
        results: list[IngestResult | OutOfScope] = []
        for (event, now), key in zip(items, keys, strict=True):
            refused = self._out_of_scope(conn, event)
            if refused is not None:
                results.append(refused)
                continue
            if key in seen:
                results.append(_DUPLICATE)
                continue
            seen.add(key)
            results.append(self._apply(conn, event, now, pending))
        pending.flush(conn, self.cache)
        return results

    def _out_of_scope(self, conn: sqlite3.Connection, event: Event) -> OutOfScope | None:
        if event.scope_relay is None:
            return None
        try:
            check_scope(conn, event, self.cache.link(conn, (event.provider.value, event.task_id)))
        except OutOfScope as refused:
            return refused
        return None

    @staticmethod
    def _known(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
        """The dedupe keys among ``keys`` that are already in the history."""
        known: set[str] = set()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            known.update(row[0] for row in conn.execute(_known_keys(len(chunk)), chunk))
        return known

    def _apply(
        self, conn: sqlite3.Connection, event: Event, now: int, pending: _Pending
    ) -> IngestResult:
        cache = self.cache
        order_time = event.event_time_ms if event.event_time_ms is not None else now
        task_key = (event.provider.value, event.task_id)
        current = cache.task(conn, task_key)
        moved = apply_order(None if current is None else current[0], event.status, order_time)
        event_id = cache.event_id(conn)
        pending.events.append((event_id, *event_row(event, order_time, moved is not None, now)))
        if event.forward_headers is not None:  # forwarding is on: the outbox copy, same commit
            pending.forwards.append(forward_row(event, event_id, now))
        if moved is not None:
            self._move(task_key, moved, event, event_id, now, pending)
        change = TaskChange(
            event=event,
            event_id=event_id,
            previous_status=None if current is None else current[0].status,
            previous_reason=None if current is None else current[1],
            applied=moved is not None,
        )
        job_ids: tuple[int, ...] = ()
        if self.planner is not None and change.applied:
            job_ids = self._plan(conn, self.planner, change, now, pending)
        if change.applied:
            self._follow_task(conn, event, pending)
        return IngestResult(duplicate=False, event_id=event_id, change=change, job_ids=job_ids)

    def _move(
        self,
        task_key: TaskKey,
        moved: TaskState,
        event: Event,
        event_id: int,
        now: int,
        pending: _Pending,
    ) -> None:
        self.cache.set_task(task_key, (moved, event.reason))
        earlier = pending.tasks.get(task_key)
        first_seen = now if earlier is None else earlier[6]
        pending.tasks[task_key] = (
            *task_key,
            moved.status.value,
            event.reason,
            event_id,
            moved.order_time_ms,
            first_seen,
            now,
        )

    def _plan(
        self,
        conn: sqlite3.Connection,
        planner: Planner,
        change: TaskChange,
        now: int,
        pending: _Pending,
    ) -> tuple[int, ...]:
        """Ask the planner and write its plan; a failing rule costs its writes, not the event."""
        cache, event = self.cache, change.event
        if event.provider is Provider.TRTC:
            # An ingest's callback reads its link (and an awaited start) from the tables.
            pending.flush(conn, self.cache)
            given = ingest_input(conn, change, now)
        else:
            task_key = (event.provider.value, event.task_id)
            link = cache.link(conn, task_key)
            relay = cache.relay(conn, link.relay_id) if link is not None else None
            linked = relay is not None
            named = event.context.get("relay")
            if relay is None and named:
                relay = cache.relay(conn, named)
            given = PlanInput(
                change=change,
                link=link,
                relay=relay,
                linked=linked,
                has_ingests=relay is not None and cache.has_ingests(conn, relay.id),
                now_ms=now,
            )
        try:
            plan = planner(given)
        except Exception:
            log.exception("rules_failed", provider=event.provider.value, task_id=event.task_id)
            return ()
        plan = bound_adoption(conn, plan, self.limits, event.task_id, now)
        healing = plan.task_region is not None or plan.ingests or plan.ingest_restart
        if not (plan.jobs or plan.new_relay or plan.claimed or healing):
            return ()
        pending.flush(conn, self.cache)
        conn.execute("SAVEPOINT planner")
        try:
            if plan.new_relay is not None:
                insert_relay(conn, plan.new_relay)
            if plan.claimed is not None:
                claim_task(conn, plan.claimed)
            apply_healing_plan(conn, plan, given, now)
            job_ids = tuple(
                enqueue_job(conn, spec, now=now, cause_event_id=change.event_id)
                for spec in plan.jobs
            )
        except Exception:
            conn.execute("ROLLBACK TO planner")
            job_ids = ()
            log.exception("rules_failed", provider=event.provider.value, task_id=event.task_id)
        conn.execute("RELEASE planner")
        cache.forget_relays()
        return job_ids

    def _follow_task(self, conn: sqlite3.Connection, event: Event, pending: _Pending) -> None:
        """The relay lifecycle: a relay whose current task exited has ended."""
        link = self.cache.link(conn, (event.provider.value, event.task_id))
        relay = self.cache.relay(conn, link.relay_id) if link is not None else None
        if relay is None:
            return
        state = state_after_task_status(relay, link, event.task_id, event.status)
        if state is not None:
            pending.flush(conn, self.cache)
            update_relay(conn, relay.id, state=state.value)
            self.cache.forget_relays()
