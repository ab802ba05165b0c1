"""What the status page shows, read through the store's public query functions.

The one module of the pages that knows the store: after a store change, only this module
needs re-pointing. Every read goes through ``store.read`` with the query functions of
``receiver.store.relays`` / ``receiver.store.jobs``, or the store's own async queries.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Any

from receiver.logs import redact_url
from receiver.store.jobs import list_jobs
from receiver.store.relays import RELAY_STATES, get_relay, ingests_of, list_relays
from receiver.store.sqlite import SqliteStore

__all__ = [
    "JOB_SCAN_LIMIT",
    "RELAY_STATES",
    "EventLine",
    "IngestLink",
    "JobLine",
    "RelayDetail",
    "RelayRow",
    "relay_detail",
    "relay_rows",
]

#: The status page lists at most this many relays (newest first) and counts jobs among the
#: this many newest jobs of each open state: the page is an overview, the API pages further.
PAGE_LIMIT = 200
JOB_SCAN_LIMIT = 500
_OPEN_JOB_STATES = ("pending", "running")


@dataclass(frozen=True, slots=True)
class IngestLink:
    """A TRTC ingest linked to a relay."""

    sdk_app_id: int
    task_id: str | None
    state: str


@dataclass(frozen=True, slots=True)
class RelayRow:
    """One line of the relay table."""

    id: str
    name: str
    state: str
    region: str
    task_id: str | None
    task_status: str | None
    task_reason: str | None
    last_event: str | None
    last_event_ms: int | None
    ingests: tuple[IngestLink, ...]
    open_jobs: int
    dead_jobs: int
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class EventLine:
    """One stored event of one of a relay's tasks."""

    id: int
    provider: str
    task_id: str
    kind: str
    status: str
    reason: str | None
    provider_status: str
    received_at_ms: int
    event_time_ms: int | None
    applied: bool


@dataclass(frozen=True, slots=True)
class JobLine:
    """One follow-up job of a relay."""

    id: int
    action: str
    state: str
    attempts: int
    last_error: str | None
    updated_at_ms: int


@dataclass(frozen=True, slots=True)
class RelayDetail:
    """A relay with its event history (newest first) and its jobs."""

    row: RelayRow
    origin: str
    generation: int
    dst_url: str | None
    end_time: str | None
    created_at_ms: int
    updated_at_ms: int
    events: tuple[EventLine, ...]
    jobs: tuple[JobLine, ...]


def _job_counts(conn: sqlite3.Connection) -> tuple[Counter[str], Counter[str]]:
    open_jobs: Counter[str] = Counter()
    for state in _OPEN_JOB_STATES:
        for job in list_jobs(conn, state=state, limit=JOB_SCAN_LIMIT, cursor=None):
            if job["relay_id"]:
                open_jobs[job["relay_id"]] += 1
    dead: Counter[str] = Counter(
        job["relay_id"]
        for job in list_jobs(conn, state="dead", limit=JOB_SCAN_LIMIT, cursor=None)
        if job["relay_id"]
    )
    return open_jobs, dead


def _links(conn: sqlite3.Connection, relay_id: str) -> tuple[IngestLink, ...]:
    return tuple(
        IngestLink(sdk_app_id=int(i["sdk_app_id"]), task_id=i["task_id"], state=str(i["state"]))
        for i in ingests_of(conn, relay_id)
    )


async def _row(
    store: SqliteStore,
    relay: dict[str, Any],
    links: tuple[IngestLink, ...],
    open_jobs: int,
    dead_jobs: int,
) -> RelayRow:
    task_id = relay["current_task_id"]
    task = await store.get_task("aliyun", task_id) if task_id else None
    events: list[dict[str, Any]] = task["events"] if task else []
    last = max(events, key=lambda e: (e["received_at_ms"], e["id"])) if events else None
    return RelayRow(
        id=relay["id"],
        name=relay["name"],
        state=relay["state"],
        region=relay["region"],
        task_id=task_id,
        task_status=task["status"] if task else None,
        task_reason=(task["reason"] or None) if task else None,
        last_event=f"{last['kind']} → {last['status']}" if last else None,
        last_event_ms=int(last["received_at_ms"]) if last else None,
        ingests=links,
        open_jobs=open_jobs,
        dead_jobs=dead_jobs,
        failure_reason=relay["failure_reason"],
    )


async def relay_rows(store: SqliteStore, *, state: str | None) -> list[RelayRow]:
    """The relay table, newest relay first, optionally only relays in ``state``."""

    def load(
        conn: sqlite3.Connection,
    ) -> tuple[list[tuple[dict[str, Any], tuple[IngestLink, ...]]], Counter[str], Counter[str]]:
        relays = list_relays(conn, state=state, limit=PAGE_LIMIT, cursor=None)
        open_jobs, dead = _job_counts(conn)
        return [(r, _links(conn, r["id"])) for r in relays], open_jobs, dead

    relays, open_jobs, dead = await store.read(load)
    return [
        await _row(store, relay, links, open_jobs[relay["id"]], dead[relay["id"]])
        for relay, links in relays
    ]


def _event_line(provider: str, task_id: str, event: dict[str, Any]) -> EventLine:
    return EventLine(
        id=int(event["id"]),
        provider=provider,
        task_id=task_id,
        kind=str(event["kind"]),
        status=str(event["status"]),
        reason=event["reason"] or None,
        provider_status=str(event["provider_status"]),
        received_at_ms=int(event["received_at_ms"]),
        event_time_ms=event["event_time_ms"],
        applied=bool(event["applied"]),
    )


async def relay_detail(store: SqliteStore, relay_id: str) -> RelayDetail | None:
    """One relay with the events of every task it had (as far as its jobs name them)."""

    def load(
        conn: sqlite3.Connection,
    ) -> tuple[dict[str, Any], tuple[IngestLink, ...], list[dict[str, Any]]] | None:
        relay = get_relay(conn, relay_id)
        if relay is None:
            return None
        jobs = [
            j
            for j in list_jobs(conn, state=None, limit=JOB_SCAN_LIMIT, cursor=None)
            if j["relay_id"] == relay_id
        ]
        return relay, _links(conn, relay_id), jobs

    loaded = await store.read(load)
    if loaded is None:
        return None
    relay, links, jobs = loaded
    # The store has no "tasks of a relay" query: the relay's tasks are its current one and
    # those its jobs acted on; the task's own relay link confirms each.
    aliyun_ids = {relay["current_task_id"]} | {
        j["task_id"] for j in jobs if j["provider"] in (None, "aliyun")
    }
    events: list[EventLine] = []
    for task_id in sorted(t for t in aliyun_ids if t):
        task = await store.get_task("aliyun", task_id)
        if task is not None and task.get("relay_id") == relay_id:
            events.extend(_event_line("aliyun", task_id, e) for e in task["events"])
    for link in links:
        if link.task_id:
            task = await store.get_task("trtc", link.task_id)
            if task is not None:
                events.extend(_event_line("trtc", link.task_id, e) for e in task["events"])
    events.sort(key=lambda e: (e.received_at_ms, e.id), reverse=True)
    open_jobs = sum(1 for j in jobs if j["state"] in _OPEN_JOB_STATES)
    dead_jobs = sum(1 for j in jobs if j["state"] == "dead")
    config: dict[str, Any] = relay["pull_to_push"] or {}
    return RelayDetail(
        row=await _row(store, relay, links, open_jobs, dead_jobs),
        origin=relay["origin"],
        generation=int(relay["generation"]),
        dst_url=redact_url(str(config["DstUrl"])) if config.get("DstUrl") else None,
        end_time=config.get("EndTime"),
        created_at_ms=int(relay["created_at_ms"]),
        updated_at_ms=int(relay["updated_at_ms"]),
        events=tuple(events),
        jobs=tuple(
            JobLine(
                id=int(j["id"]),
                action=str(j["action"]),
                state=str(j["state"]),
                attempts=int(j["attempts"]),
                last_error=j["last_error"],
                updated_at_ms=int(j["updated_at_ms"]),
            )
            for j in jobs
        ),
    )
