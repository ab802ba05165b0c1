"""Reads and small writes of tasks, quarantine, settings and scrape-time counts."""

from __future__ import annotations

import json
import secrets

import msgspec

from receiver.domain.records import EventRecord, QuarantinedRecord, TaskDetail, TaskRecord
from receiver.domain.states import Provider, RelayState, Status
from receiver.store.base import CallbackTokens, TokenRefused
from receiver.store.dialect import Db, is_postgres
from receiver.store.jobs import jobs_of_task
from receiver.store.rows import Row, now_ms, rows, where

__all__ = [
    "TOKENS_CHANNEL",
    "TOKEN_KEY",
    "callback_tokens",
    "dead_jobs",
    "get_task",
    "get_unrecognized",
    "insert_unrecognized",
    "list_tasks",
    "list_unrecognized",
    "load_orphans",
    "mark_replayed",
    "pending_jobs",
    "relay_counts",
    "relays_not_running",
    "rotate_callback_token",
    "save_orphans",
    "task_counts",
]

TOKEN_KEY = "callback_token"
#: Set on the first rotation to the token per-relay tokens were derived from until then.
RELAY_KEY = "relay_token_key"
#: The last orphan sweep (an ``OrphanList`` as JSON), whichever replica made it.
ORPHANS_KEY = "orphans"
#: ``NOTIFY`` channel of a rotation: every replica's listener reloads the callback token.
TOKENS_CHANNEL = "relaywarden_tokens"

_TASK_COLUMNS = (
    "t.seq, t.provider, t.task_id, t.status, t.reason, t.state_event_id, t.first_seen_ms, "
    "t.updated_at_ms"
)
_QUARANTINE_COLUMNS = (
    "id, source, reason, received_at_ms, context, body, replayed_at_ms, replay_result"
)


def list_tasks(
    conn: Db,
    *,
    provider: Provider | None,
    status: Status | None,
    limit: int,
    cursor: int | None,
) -> list[TaskRecord]:
    """Tasks newest first (by first sighting), filtered, ``limit`` rows after ``cursor``."""
    condition, params = where(
        ("t.provider = ?", (provider.value,) if provider else None),
        ("t.status = ?", (status.value,) if status else None),
        ("t.seq < ?", None if cursor is None else (cursor,)),
    )
    sql = f"SELECT {_TASK_COLUMNS} FROM tasks t {condition} ORDER BY t.seq DESC LIMIT ?"
    found = rows(conn.execute(sql, (*params, limit)))
    return msgspec.convert(found, list[TaskRecord], strict=False)


def get_task(
    conn: Db,
    provider: str,
    task_id: str,
    *,
    limit: int | None = None,
    after: tuple[int, int] | None = None,
) -> TaskDetail | None:
    """One task with its events (provider-time order) and jobs, or None.

    ``limit`` events at most, those after ``after`` (an event's ``(order_time_ms, id)``).
    """
    found = rows(
        conn.execute(
            f"SELECT {_TASK_COLUMNS}, rt.relay_id FROM tasks t LEFT JOIN relay_tasks rt "
            "ON rt.provider = t.provider AND rt.task_id = t.task_id "
            "WHERE t.provider = ? AND t.task_id = ?",
            (provider, task_id),
        )
    )
    if not found:
        return None
    page, params = where(
        ("provider = ?", (provider,)),
        ("task_id = ?", (task_id,)),
        ("(order_time_ms, id) > (?, ?)", after),
    )
    events = rows(
        conn.execute(
            "SELECT id, source, kind, status, reason, provider_status, event_time_ms, "
            f"order_time_ms, received_at_ms, applied, raw FROM events {page} "
            "ORDER BY order_time_ms, id" + ("" if limit is None else " LIMIT ?"),
            (*params, *(() if limit is None else (limit,))),
        )
    )
    return TaskDetail(
        task=msgspec.convert(found[0], TaskRecord, strict=False),
        events=msgspec.convert(events, list[EventRecord], strict=False),
        jobs=jobs_of_task(conn, provider, task_id),
    )


def _quarantined(row: Row) -> QuarantinedRecord:
    row["context"] = json.loads(row["context"])
    return msgspec.convert(row, QuarantinedRecord, strict=False)


def insert_unrecognized(
    conn: Db, source: str, reason: str, body: bytes, context: dict[str, str]
) -> int:
    """Keep a body that is not a known event; returns its id."""
    row = conn.execute(
        "INSERT INTO unrecognized (source, reason, received_at_ms, context, body) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        (source, reason, now_ms(), json.dumps(context), body),
    ).fetchone()
    return int(row[0])


def list_unrecognized(conn: Db, *, limit: int, cursor: int | None) -> list[QuarantinedRecord]:
    """Quarantined callbacks, newest first."""
    bound = cursor if cursor is not None else 2**62
    sql = f"SELECT {_QUARANTINE_COLUMNS} FROM unrecognized WHERE id < ? ORDER BY id DESC LIMIT ?"
    return [_quarantined(row) for row in rows(conn.execute(sql, (bound, limit)))]


def get_unrecognized(conn: Db, item_id: int) -> QuarantinedRecord | None:
    """One quarantined callback, or None."""
    sql = f"SELECT {_QUARANTINE_COLUMNS} FROM unrecognized WHERE id = ?"
    found = rows(conn.execute(sql, (item_id,)))
    return _quarantined(found[0]) if found else None


def mark_replayed(conn: Db, item_id: int, result: str) -> None:
    """Record that a quarantined callback was replayed and how that went."""
    conn.execute(
        "UPDATE unrecognized SET replayed_at_ms = ?, replay_result = ? WHERE id = ?",
        (now_ms(), result, item_id),
    )


def _meta(conn: Db, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set_meta(conn: Db, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def callback_tokens(conn: Db, configured: str | None, *, may_create: bool) -> CallbackTokens:
    """The configured or stored callback token; a new one only on an empty store or if allowed."""
    if configured:
        return CallbackTokens(configured, _meta(conn, RELAY_KEY) or configured)
    stored = _meta(conn, TOKEN_KEY)
    if stored is not None:
        return CallbackTokens(stored, _meta(conn, RELAY_KEY) or stored)
    if not may_create:
        has_data = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM relays) OR EXISTS (SELECT 1 FROM events)"
        ).fetchone()[0]
        if has_data:
            raise TokenRefused(
                "the store holds relays or events but no callback token: a new token would "
                "break every CallbackUrl registered with the old one. Set "
                "RELAYWARDEN_CALLBACK_TOKEN to the old token, or pass --new-token."
            )
    # Replicas starting together each propose a token; the first insert wins for all.
    won = conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        (TOKEN_KEY, secrets.token_urlsafe(32)),
    ).rowcount
    token = _meta(conn, TOKEN_KEY)
    assert token is not None
    return CallbackTokens(token, _meta(conn, RELAY_KEY) or token, created=won > 0)


def rotate_callback_token(conn: Db) -> CallbackTokens:
    """A new stored callback token; per-relay tokens keep the key they were derived from."""
    old = _meta(conn, TOKEN_KEY)
    if old is not None and _meta(conn, RELAY_KEY) is None:
        _set_meta(conn, RELAY_KEY, old)
    token = secrets.token_urlsafe(32)
    _set_meta(conn, TOKEN_KEY, token)
    if is_postgres(conn):
        # Delivered at the commit: the other replicas stop taking the old token at once.
        conn.execute(f"NOTIFY {TOKENS_CHANNEL}")
    return CallbackTokens(token, _meta(conn, RELAY_KEY) or token, created=True)


def save_orphans(conn: Db, blob: str) -> None:
    """Keep the last orphan sweep (JSON), replacing the one before."""
    _set_meta(conn, ORPHANS_KEY, blob)


def load_orphans(conn: Db) -> str | None:
    """The last orphan sweep (JSON), or None before the first."""
    return _meta(conn, ORPHANS_KEY)


def task_counts(conn: Db) -> list[tuple[str, str, int]]:
    """(provider, status, count) of tasks."""
    sql = "SELECT provider, status, COUNT(*) FROM tasks GROUP BY provider, status"
    return [(str(p), str(s), int(n)) for p, s, n in conn.execute(sql)]


def pending_jobs(conn: Db) -> tuple[list[tuple[str, int]], int | None]:
    """Unfinished job counts by action and the oldest unfinished job's creation time."""
    unfinished = "state IN ('pending', 'running')"
    sql = f"SELECT action, COUNT(*) FROM jobs WHERE {unfinished} GROUP BY action"
    counts = [(str(a), int(n)) for a, n in conn.execute(sql)]
    oldest = conn.execute(f"SELECT MIN(created_at_ms) FROM jobs WHERE {unfinished}").fetchone()[0]
    return counts, (int(oldest) if oldest is not None else None)


def relay_counts(conn: Db) -> list[tuple[str, int]]:
    """(state, count) of relays."""
    sql = "SELECT state, COUNT(*) FROM relays GROUP BY state"
    return [(str(state), int(n)) for state, n in conn.execute(sql)]


def dead_jobs(conn: Db) -> int:
    """How many jobs are dead (the ``jobs_due`` index counts them)."""
    row = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'dead'").fetchone()
    return int(row[0])


def relays_not_running(conn: Db) -> int:
    """Relays kept alive (pending or active) whose current Alibaba task is not running."""
    row = conn.execute(
        "SELECT COUNT(*) FROM relays r WHERE r.state IN (?, ?) AND NOT EXISTS ("
        "SELECT 1 FROM tasks t WHERE t.provider = ? AND t.task_id = r.current_task_id "
        "AND t.status = ?)",
        (
            RelayState.PENDING.value,
            RelayState.ACTIVE.value,
            Provider.ALIYUN.value,
            Status.RUNNING.value,
        ),
    ).fetchone()
    return int(row[0])
