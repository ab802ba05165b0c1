"""What the callback transaction reads, kept between group commits by the writer thread.

Every write of the process goes through one connection on one thread, so that thread can
remember task states, relay links, relays and event ids instead of selecting them again for
every callback. Temporary triggers on that connection tell it when anything else writes
what it remembers: a write to a row of the relay tables drops what was read from that
row (one relay, one link, one relay's "has ingests"), a write to
tasks or events that is not the callback transaction's own drops everything. It is also
dropped when another connection committed (``PRAGMA data_version``) and after any rollback
(the writer's ``after_rollback``). Each map is bounded: a full map is emptied. Writes to
the jobs table (claims, leases, outcomes) leave it alone.
"""

from __future__ import annotations

import sqlite3
from typing import TypeVar

from receiver.domain.ordering import TaskState
from receiver.domain.records import RelayTaskLink
from receiver.domain.relay import Relay
from receiver.domain.states import Status
from receiver.store.relays import get_relay, has_ingests, relay_task

__all__ = ["TaskKey", "TaskRow", "WriterCache"]

#: (provider, task id)
TaskKey = tuple[str, str]
#: A task's ordering state and its reason, as the tasks table holds them.
TaskRow = tuple[TaskState, str]

K = TypeVar("K")
V = TypeVar("V")

_UNKNOWN = object()
#: The columns that name what the cache read from a row of each relay table: a relay by
#: id, a link by (provider, task id), "has ingests" by relay id.
_ROW_KEYS: dict[str, tuple[str, str | None]] = {
    "relays": ("id", None),
    "relay_tasks": ("provider", "task_id"),
    "ingests": ("relay_id", None),
}


def _put(mapping: dict[K, V], key: K, value: V, limit: int) -> V:
    if len(mapping) >= limit:
        mapping.clear()  # cheaper than tracking recency; the next reads refill it
    mapping[key] = value
    return value


class WriterCache:
    """Task states, relay links, relays and the next event id, as the database has them."""

    def __init__(self, limit: int = 65_536) -> None:
        self.limit = limit
        self._tasks: dict[TaskKey, TaskRow | None] = {}
        self._links: dict[TaskKey, RelayTaskLink | None] = {}
        self._relays: dict[str, Relay | None] = {}
        self._ingests: dict[str, bool] = {}
        self._next_event_id: int | None = None
        self._data_version = -1

    def watch(self, conn: sqlite3.Connection) -> None:
        """Install the triggers that keep the cache honest (on the writer's connection)."""
        conn.create_function("relaywarden_cache_stale", 1, self._stale)
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS cache_own_write (active INTEGER NOT NULL)")
        conn.execute(
            "INSERT INTO temp.cache_own_write SELECT 0 "
            "WHERE NOT EXISTS (SELECT 1 FROM temp.cache_own_write)"
        )
        conn.create_function("relaywarden_cache_forget", 3, self._forget_row)
        own = " WHEN (SELECT active FROM temp.cache_own_write) = 0"
        for table in ("tasks", "events"):
            for op in ("INSERT", "UPDATE", "DELETE"):
                conn.execute(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS cache_{table}_{op.lower()} "
                    f"AFTER {op} ON {table}{own} "
                    "BEGIN SELECT relaywarden_cache_stale('all'); END"
                )
        # A relay table's row drops only what was read from that row: the job runner's
        # write to one relay must not empty the cache of every other one.
        for table, keys in _ROW_KEYS.items():
            for op, rows in (
                ("INSERT", ("NEW",)),
                ("UPDATE", ("OLD", "NEW")),
                ("DELETE", ("OLD",)),
            ):
                first, second = keys
                calls = ", ".join(
                    f"relaywarden_cache_forget('{table}', {row}.{first}, "
                    f"{f'{row}.{second}' if second else 'NULL'})"
                    for row in rows
                )
                conn.execute(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS cache_{table}_{op.lower()} "
                    f"AFTER {op} ON {table} BEGIN SELECT {calls}; END"
                )

    def own_writes(self, conn: sqlite3.Connection, active: bool) -> None:
        """Mark the callback transaction's own event and task writes (they keep the cache)."""
        conn.execute("UPDATE temp.cache_own_write SET active = ?", (int(active),))

    def _stale(self, _: str) -> None:
        self.clear()

    def _forget_row(self, table: str, first: str, second: str | None) -> None:
        if table == "relays":
            self._relays.pop(first, None)
        elif table == "relay_tasks":
            self._links.pop((first, second), None)  # type: ignore[arg-type]
        else:
            self._ingests.pop(first, None)

    def clear(self) -> None:
        """Forget everything (after a rollback, or a write the cache did not see)."""
        self._tasks.clear()
        self.forget_relays()
        self._next_event_id = None

    def forget_relays(self) -> None:
        """Forget relays and links (after the callback transaction wrote some)."""
        self._links.clear()
        self._relays.clear()
        self._ingests.clear()

    def check(self, conn: sqlite3.Connection) -> None:
        """Drop everything if another connection committed since the last check."""
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if version != self._data_version:
            self.clear()
            self._data_version = version

    # reads ---------------------------------------------------------------------------------
    def task(self, conn: sqlite3.Connection, key: TaskKey) -> TaskRow | None:
        """The task's ordering state and reason, or None for a task never seen."""
        found = self._tasks.get(key, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        row = conn.execute(
            "SELECT status, reason, state_order_time_ms FROM tasks "
            "WHERE provider = ? AND task_id = ?",
            key,
        ).fetchone()
        value = None if row is None else (TaskState(Status(row[0]), int(row[2])), str(row[1]))
        return _put(self._tasks, key, value, self.limit)

    def set_task(self, key: TaskKey, value: TaskRow) -> None:
        """Remember the state the callback transaction is writing for a task."""
        _put(self._tasks, key, value, self.limit)

    def link(self, conn: sqlite3.Connection, key: TaskKey) -> RelayTaskLink | None:
        """How a task belongs to its relay, or None."""
        found = self._links.get(key, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        return _put(self._links, key, relay_task(conn, *key), self.limit)

    def relay(self, conn: sqlite3.Connection, relay_id: str) -> Relay | None:
        """One relay, or None."""
        found = self._relays.get(relay_id, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        return _put(self._relays, relay_id, get_relay(conn, relay_id), self.limit)

    def has_ingests(self, conn: sqlite3.Connection, relay_id: str) -> bool:
        """True when any TRTC ingest is linked to the relay."""
        found = self._ingests.get(relay_id)
        if found is not None:
            return found
        return _put(self._ingests, relay_id, has_ingests(conn, relay_id), self.limit)

    def event_id(self, conn: sqlite3.Connection) -> int:
        """The id the next event gets (ids are never reused, as AUTOINCREMENT promises)."""
        if self._next_event_id is None:
            row = conn.execute(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
                "coalesce((SELECT max(id) FROM events), 0))"
            ).fetchone()
            self._next_event_id = int(row[0]) + 1
        found = self._next_event_id
        self._next_event_id = found + 1
        return found
