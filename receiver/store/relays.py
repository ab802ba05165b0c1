"""Relays, the provider tasks each relay had, and their linked TRTC ingests (SQLite).

Plain functions over a connection, so that the API (through the writer) and the job
actions (inside their fenced checkpoints) share one implementation.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from receiver.store.rows import now_ms, one, rows

__all__ = [
    "RELAY_STATES",
    "add_ingest",
    "attach_task",
    "create_relay",
    "get_relay",
    "ingests_of",
    "list_relays",
    "new_relay_id",
    "relay_task",
    "retire_task",
    "update_ingest",
    "update_relay",
]

#: pending: waiting for its first task; active: kept alive; ended: its task exited for good;
#: failed: re-creation gave up; deleting/deleted: the operator stopped managing it.
RELAY_STATES = ("pending", "active", "ended", "failed", "deleting", "deleted")

_JSON_COLUMNS = ("pull_to_push", "trtc_ingest", "recreate", "recreate_attempts")


def new_relay_id() -> str:
    """A fresh relay id (short, URL-safe)."""
    return uuid.uuid4().hex[:16]


def _decode(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    for column in _JSON_COLUMNS:
        value = row.get(column)
        if isinstance(value, str):
            row[column] = json.loads(value)
    return row


def _encode(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def create_relay(
    conn: sqlite3.Connection,
    *,
    relay_id: str,
    name: str,
    state: str,
    origin: str,
    region: str,
    pull_to_push: dict[str, Any],
    trtc_ingest: dict[str, Any] | None,
    recreate: dict[str, Any],
    current_task_id: str | None = None,
) -> dict[str, Any]:
    """Insert a relay (and its current task, when known); returns the row."""
    now = now_ms()
    conn.execute(
        "INSERT INTO relays (id, name, state, origin, region, pull_to_push, trtc_ingest, "
        "recreate, current_task_id, generation, created_at_ms, updated_at_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            relay_id,
            name,
            state,
            origin,
            region,
            _encode(pull_to_push),
            _encode(trtc_ingest),
            _encode(recreate),
            current_task_id,
            1 if current_task_id else 0,
            now,
            now,
        ),
    )
    if current_task_id:
        attach_task(conn, relay_id, current_task_id, generation=1)
    relay = get_relay(conn, relay_id)
    assert relay is not None
    return relay


def get_relay(conn: sqlite3.Connection, relay_id: str) -> dict[str, Any] | None:
    """One relay row (JSON columns decoded), or None."""
    return _decode(one(conn.execute("SELECT * FROM relays WHERE id = ?", (relay_id,))))


def list_relays(
    conn: sqlite3.Connection, *, state: str | None, limit: int, cursor: str | None
) -> list[dict[str, Any]]:
    """Relays newest first (created time, then id), optionally by state."""
    clauses: list[str] = []
    params: list[Any] = []
    if state:
        clauses.append("state = ?")
        params.append(state)
    if cursor:
        created, _, relay_id = cursor.partition(":")
        clauses.append("(created_at_ms, id) < (?, ?)")
        params.extend((int(created), relay_id))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    found = rows(
        conn.execute(
            f"SELECT * FROM relays {where} ORDER BY created_at_ms DESC, id DESC LIMIT ?",
            tuple(params),
        )
    )
    return [r for r in (_decode(row) for row in found) if r is not None]


def update_relay(conn: sqlite3.Connection, relay_id: str, **fields: Any) -> None:
    """Set columns of a relay (JSON columns encoded) and bump ``updated_at_ms``."""
    if not fields:
        return
    names = []
    values: list[Any] = []
    for name, value in fields.items():
        names.append(f"{name} = ?")
        values.append(_encode(value) if name in _JSON_COLUMNS else value)
    names.append("updated_at_ms = ?")
    values.append(now_ms())
    values.append(relay_id)
    conn.execute(f"UPDATE relays SET {', '.join(names)} WHERE id = ?", tuple(values))


def attach_task(
    conn: sqlite3.Connection,
    relay_id: str,
    task_id: str,
    *,
    generation: int,
    provider: str = "aliyun",
) -> None:
    """Record that ``task_id`` belongs to the relay (idempotent)."""
    conn.execute(
        "INSERT INTO relay_tasks (provider, task_id, relay_id, generation, created_at_ms) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, task_id) DO UPDATE SET "
        "relay_id = excluded.relay_id, generation = excluded.generation",
        (provider, task_id, relay_id, generation, now_ms()),
    )


def retire_task(conn: sqlite3.Connection, task_id: str, *, provider: str = "aliyun") -> None:
    """Mark a task that relaywarden itself deletes, so its exit is not taken for the relay's end."""
    conn.execute(
        "UPDATE relay_tasks SET retired_by_us = 1 WHERE provider = ? AND task_id = ?",
        (provider, task_id),
    )


def relay_task(
    conn: sqlite3.Connection, task_id: str, *, provider: str = "aliyun"
) -> dict[str, Any] | None:
    """The relay_tasks row of a task, or None."""
    return one(
        conn.execute(
            "SELECT * FROM relay_tasks WHERE provider = ? AND task_id = ?", (provider, task_id)
        )
    )


def ingests_of(conn: sqlite3.Connection, relay_id: str) -> list[dict[str, Any]]:
    """The TRTC ingests linked to a relay, oldest first."""
    return rows(conn.execute("SELECT * FROM ingests WHERE relay_id = ? ORDER BY id", (relay_id,)))


def add_ingest(
    conn: sqlite3.Connection,
    relay_id: str,
    *,
    sdk_app_id: int,
    task_id: str | None,
    state: str,
    owned: bool,
) -> int:
    """Link an ingest to a relay; returns the link id."""
    now = now_ms()
    cursor = conn.execute(
        "INSERT INTO ingests (relay_id, sdk_app_id, task_id, state, owned, created_at_ms, "
        "updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (relay_id, sdk_app_id, task_id, state, int(owned), now, now),
    )
    return int(cursor.lastrowid or 0)


def update_ingest(conn: sqlite3.Connection, ingest_id: int, **fields: Any) -> None:
    """Set columns of an ingest link."""
    names = [f"{name} = ?" for name in fields]
    values = [*fields.values(), now_ms(), ingest_id]
    conn.execute(
        f"UPDATE ingests SET {', '.join(names)}, updated_at_ms = ? WHERE id = ?", tuple(values)
    )
