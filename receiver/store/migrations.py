"""Versioned schema migrations, one list for both backends.

Each entry moves the schema from version ``index`` to ``index + 1``. Its ``sql`` is written
in SQLite's spelling and translated for PostgreSQL by a few type substitutions (64-bit
integers and identity keys, ``BYTEA`` for blobs); ``postgres`` holds what exists only on
PostgreSQL (the shared rate-slot log). SQLite keeps its version in ``PRAGMA user_version``,
PostgreSQL in the ``schema_version`` table, and there two replicas starting at once
migrate one after the other under an advisory lock.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

import psycopg

__all__ = ["MIGRATIONS", "Migration", "migrate", "migrate_postgres", "postgres_sql"]

#: Advisory lock key serialising migrations across replicas ("rwmigrat" as an int64).
MIGRATION_LOCK = 0x72776D6967726174


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: shared SQL (SQLite spelling) and PostgreSQL-only SQL."""

    sql: str = ""
    postgres: str = ""


#: Never edit a shipped entry; append a new one.
MIGRATIONS: tuple[Migration, ...] = (
    # 1: events, task state, outbox, quarantine, settings.
    Migration(
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
        """
    ),
    # 2: relays, the tasks each relay had, and the TRTC ingests linked to them.
    Migration(
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
        """
    ),
    # 3: the provider rate-slot log that replicas share (PostgreSQL only).
    Migration(
        postgres="""
        CREATE TABLE rate_slots (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            bucket TEXT NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            ended_at TIMESTAMPTZ,
            expires_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX rate_slots_by_bucket ON rate_slots (bucket);
        """
    ),
    # 4: a relay's destination (OSS LiveChannel), ARTC channel and transcode, and what
    # relaywarden last did with them.
    Migration(
        """
        ALTER TABLE relays ADD COLUMN destination TEXT;
        ALTER TABLE relays ADD COLUMN artc TEXT;
        ALTER TABLE relays ADD COLUMN artc_transcode TEXT;
        ALTER TABLE relays ADD COLUMN channel_state TEXT;
        ALTER TABLE relays ADD COLUMN channel_play_url TEXT;
        ALTER TABLE relays ADD COLUMN transcode_state TEXT;
        ALTER TABLE relays ADD COLUMN transcode_task_id TEXT;
        """
    ),
    # 5: operator queries: jobs by relay, event search, one live relay per name (older
    # duplicates of a name get their id appended, so the unique index can be built).
    Migration(
        """
        CREATE INDEX jobs_by_relay ON jobs (relay_id, state);
        CREATE INDEX events_by_received ON events (received_at_ms, id);
        CREATE INDEX events_by_kind ON events (kind, id);
        UPDATE relays SET name = name || '-' || id
            WHERE state != 'deleted' AND id NOT IN (
                SELECT MIN(id) FROM relays WHERE state != 'deleted' GROUP BY name
            );
        CREATE UNIQUE INDEX relays_live_name ON relays (name) WHERE state != 'deleted';
        """
    ),
    # 6: self-healing: the region a task is known to live in (NULL: not known yet), what
    # became of an ingest (a reason, start failures in a row, since when its id is awaited)
    # and a relay's ingest restarts (bounded like its re-creations). Shared SQL: PostgreSQL
    # takes it with the usual type translation (INTEGER becomes BIGINT).
    Migration(
        """
        ALTER TABLE relay_tasks ADD COLUMN region TEXT;
        ALTER TABLE ingests ADD COLUMN reason TEXT;
        ALTER TABLE ingests ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE ingests ADD COLUMN awaiting_since_ms INTEGER;
        ALTER TABLE relays ADD COLUMN ingest_restarts TEXT NOT NULL DEFAULT '[]';
        CREATE INDEX ingests_awaiting ON ingests (sdk_app_id, awaiting_since_ms);
        """
    ),
    # 7: hardening: what the relay list sorts and filters on (newest first, optionally by
    # state), and the adoption bounds' counts of relays adopted from callbacks (by time).
    Migration(
        """
        CREATE INDEX relays_by_created ON relays (created_at_ms, id);
        CREATE INDEX relays_by_state_created ON relays (state, created_at_ms, id);
        CREATE INDEX relays_by_origin_created ON relays (origin, created_at_ms);
        """
    ),
    # 8: the forwarding outbox: a copy of each accepted callback (body and the headers that
    # matter) for RELAYWARDEN_FORWARD_URL, written in the callback's transaction, claimed
    # under a lease and fence like jobs.
    Migration(
        """
        CREATE TABLE forwards (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id INTEGER NOT NULL,
            source TEXT NOT NULL,
            headers TEXT NOT NULL,
            body BLOB NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            fence INTEGER NOT NULL DEFAULT 0,
            due_at_ms INTEGER NOT NULL,
            lease_until_ms INTEGER,
            last_status INTEGER,
            last_error TEXT,
            created_at_ms INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL
        );
        CREATE INDEX forwards_due ON forwards (state, due_at_ms);
        """
    ),
)

_PG_TYPES = (
    (
        re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    # Milliseconds since the epoch overflow PostgreSQL's 32-bit INTEGER.
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
)


def postgres_sql(migration: Migration) -> str:
    """The PostgreSQL text of one migration."""
    sql = migration.sql
    for pattern, replacement in _PG_TYPES:
        sql = pattern.sub(replacement, sql)
    return sql + migration.postgres


def _too_new(version: int) -> RuntimeError:
    return RuntimeError(
        f"database schema version {version} is newer than this relaywarden "
        f"({len(MIGRATIONS)}); upgrade relaywarden"
    )


def migrate(conn: sqlite3.Connection) -> int:
    """Bring a SQLite schema to the newest version, one transaction per step."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise _too_new(version)
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def migrate_postgres(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """Bring a PostgreSQL schema to the newest version; returns (before, after).

    ``conn`` must be in autocommit mode. Each step commits with its version row, so a crash
    between steps resumes where it stopped; the advisory lock makes a replica that starts
    while another migrates wait for it and then find nothing left to do.
    """
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        before = int(row[0]) if row and row[0] is not None else 0
        if before > len(MIGRATIONS):
            raise _too_new(before)
        for number, migration in enumerate(MIGRATIONS[before:], start=before + 1):
            with conn.transaction():
                for statement in _statements(postgres_sql(migration)):
                    conn.execute(statement)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        return before, len(MIGRATIONS)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
