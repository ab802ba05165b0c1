"""Versioned schema migrations for the SQLite store (``PRAGMA user_version`` holds the version)."""

from __future__ import annotations

import sqlite3

__all__ = ["MIGRATIONS", "migrate"]

#: Each entry moves the schema from version ``index`` to ``index + 1``. Never edit a shipped
#: entry; append a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: events, task state, outbox, quarantine, settings.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dedupe_key TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        provider TEXT NOT NULL,
        task_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        provider_status TEXT NOT NULL,
        event_time_ms INTEGER,
        order_time_ms INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        applied INTEGER NOT NULL,
        raw BLOB NOT NULL
    );
    CREATE INDEX events_by_task ON events (provider, task_id, order_time_ms, id);
    CREATE TABLE tasks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        provider TEXT NOT NULL,
        task_id TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        state_event_id INTEGER NOT NULL,
        state_order_time_ms INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        UNIQUE (provider, task_id)
    );
    CREATE INDEX tasks_by_status ON tasks (provider, status);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL,
        relay_id TEXT,
        provider TEXT,
        task_id TEXT,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        throttled INTEGER NOT NULL DEFAULT 0,
        due_at_ms INTEGER NOT NULL,
        lease_until_ms INTEGER,
        fence INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        cause_event_id INTEGER,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    CREATE INDEX jobs_due ON jobs (state, due_at_ms);
    CREATE INDEX jobs_by_task ON jobs (provider, task_id);
    CREATE TABLE unrecognized (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        reason TEXT NOT NULL,
        received_at_ms INTEGER NOT NULL,
        context TEXT NOT NULL,
        body BLOB NOT NULL,
        replayed_at_ms INTEGER,
        replay_result TEXT
    );
    """,
    # 2: relays, the tasks each relay had, and the TRTC ingests linked to them.
    """
    CREATE TABLE relays (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        origin TEXT NOT NULL,
        region TEXT NOT NULL,
        pull_to_push TEXT NOT NULL,
        trtc_ingest TEXT,
        recreate TEXT NOT NULL,
        current_task_id TEXT,
        generation INTEGER NOT NULL DEFAULT 0,
        recreate_attempts TEXT NOT NULL DEFAULT '[]',
        failure_reason TEXT,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    CREATE INDEX relays_by_state ON relays (state);
    CREATE TABLE relay_tasks (
        provider TEXT NOT NULL,
        task_id TEXT NOT NULL,
        relay_id TEXT NOT NULL REFERENCES relays (id),
        generation INTEGER NOT NULL,
        retired_by_us INTEGER NOT NULL DEFAULT 0,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (provider, task_id)
    );
    CREATE INDEX relay_tasks_by_relay ON relay_tasks (relay_id);
    CREATE TABLE ingests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        relay_id TEXT NOT NULL REFERENCES relays (id),
        sdk_app_id INTEGER NOT NULL,
        task_id TEXT,
        state TEXT NOT NULL,
        owned INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        UNIQUE (sdk_app_id, task_id)
    );
    CREATE INDEX ingests_by_relay ON ingests (relay_id);
    """,
    # 3: operator queries: jobs by relay, event search, one live relay per name (older
    # duplicates of a name get their id appended, so the unique index can be built).
    """
    CREATE INDEX jobs_by_relay ON jobs (relay_id, state);
    CREATE INDEX events_by_received ON events (received_at_ms, id);
    CREATE INDEX events_by_kind ON events (kind, id);
    UPDATE relays SET name = name || '-' || id
        WHERE state != 'deleted' AND id NOT IN (
            SELECT MIN(id) FROM relays WHERE state != 'deleted' GROUP BY name
        );
    CREATE UNIQUE INDEX relays_live_name ON relays (name) WHERE state != 'deleted';
    """,
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version, one transaction per step; return the version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {version} is newer than this relaywarden "
            f"({len(MIGRATIONS)}); upgrade relaywarden"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
