"""Relays, the provider tasks each relay had, and their linked TRTC ingests.

Functions over a connection, run inside the writer's transaction or on a reader, so the
API methods and the fenced action methods of the store share one implementation.
"""

from __future__ import annotations

import msgspec

from receiver.domain.destinations import ArtcSpec, ArtcTranscodeSpec, DestinationSpec
from receiver.domain.records import IngestLink, RelayTaskLink
from receiver.domain.relay import (
    PullToPushSpec,
    RecreatePolicy,
    Relay,
    TrtcIngestSpec,
    new_relay_id,
)
from receiver.domain.states import IngestState, Provider, RelayOrigin, RelayState
from receiver.store.dialect import Db
from receiver.store.rows import Row, now_ms, one, rows, where

__all__ = [
    "add_ingest",
    "attach_task",
    "claim_task",
    "get_relay",
    "has_ingests",
    "ingests_of",
    "insert_relay",
    "list_relays",
    "relay_by_name",
    "relay_task",
    "retire_task",
    "tasks_of",
    "update_ingest",
    "update_relay",
]

_JSON_TYPES: dict[str, object] = {
    "pull_to_push": PullToPushSpec,
    "trtc_ingest": TrtcIngestSpec | None,
    "recreate": RecreatePolicy,
    "recreate_attempts": list[int],
    "destination": DestinationSpec | None,
    "artc": ArtcSpec | None,
    "artc_transcode": ArtcTranscodeSpec | None,
}
_ENCODER = msgspec.json.Encoder()


def _relay(row: Row | None) -> Relay | None:
    if row is None:
        return None
    for column, kind in _JSON_TYPES.items():
        text = row[column]
        row[column] = None if text is None else msgspec.json.decode(text, type=kind, strict=False)
    return msgspec.convert(row, Relay, strict=False)


def _encode(value: object) -> str | None:
    return None if value is None else _ENCODER.encode(value).decode()


def relay_by_name(conn: Db, name: str) -> Relay | None:
    """The live (not ``deleted``) relay called ``name``, or None."""
    sql = "SELECT * FROM relays WHERE name = ? AND state != ?"
    return _relay(one(conn.execute(sql, (name, RelayState.DELETED.value))))


def _free_name(conn: Db, relay: Relay) -> str:
    """The relay's name, or (for a relay adopted from a callback) a free variant of it."""
    if relay.origin is not RelayOrigin.CALLBACK or relay_by_name(conn, relay.name) is None:
        return relay.name  # a declared name that is taken fails on the unique index: 409
    candidate = f"{relay.name}-{relay.id[:8]}"
    while relay_by_name(conn, candidate) is not None:
        candidate = f"{relay.name}-{new_relay_id()[:8]}"
    return candidate


def insert_relay(conn: Db, relay: Relay) -> Relay:
    """Insert a relay (and link its current task as generation 1, when it has one)."""
    now = now_ms()
    conn.execute(
        "INSERT INTO relays (id, name, state, origin, region, pull_to_push, trtc_ingest, "
        "recreate, current_task_id, generation, created_at_ms, updated_at_ms, destination, "
        "artc, artc_transcode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            relay.id,
            _free_name(conn, relay),
            relay.state.value,
            relay.origin.value,
            relay.region,
            _encode(relay.pull_to_push),
            _encode(relay.trtc_ingest),
            _encode(relay.recreate),
            relay.current_task_id,
            1 if relay.current_task_id else 0,
            now,
            now,
            _encode(relay.destination),
            _encode(relay.artc),
            _encode(relay.artc_transcode),
        ),
    )
    if relay.current_task_id:
        attach_task(conn, relay.id, relay.current_task_id, generation=1)
    stored = get_relay(conn, relay.id)
    assert stored is not None
    return stored


def get_relay(conn: Db, relay_id: str) -> Relay | None:
    """One relay, or None."""
    return _relay(one(conn.execute("SELECT * FROM relays WHERE id = ?", (relay_id,))))


def list_relays(
    conn: Db, *, state: RelayState | None, limit: int, after: tuple[int, str] | None
) -> list[Relay]:
    """Relays newest first (created time, then id), optionally by state."""
    condition, params = where(
        ("state = ?", (state.value,) if state else None),
        ("(created_at_ms, id) < (?, ?)", after),
    )
    sql = f"SELECT * FROM relays {condition} ORDER BY created_at_ms DESC, id DESC LIMIT ?"
    found = rows(conn.execute(sql, (*params, limit)))
    return [r for r in map(_relay, found) if r is not None]


def update_relay(conn: Db, relay_id: str, **fields: object) -> None:
    """Set columns of a relay (JSON columns encoded, enums as text); bumps ``updated_at_ms``."""
    names = [f"{name} = ?" for name in fields]
    values = [_encode(v) if name in _JSON_TYPES else v for name, v in fields.items()]
    conn.execute(
        f"UPDATE relays SET {', '.join(names)}, updated_at_ms = ? WHERE id = ?",
        (*values, now_ms(), relay_id),
    )


def claim_task(conn: Db, relay: Relay) -> None:
    """Store that ``relay.current_task_id`` is the relay's task at ``relay.generation``."""
    assert relay.current_task_id is not None
    update_relay(
        conn,
        relay.id,
        current_task_id=relay.current_task_id,
        generation=relay.generation,
        state=relay.state.value,
    )
    attach_task(conn, relay.id, relay.current_task_id, generation=relay.generation)


def attach_task(
    conn: Db,
    relay_id: str,
    task_id: str,
    *,
    generation: int,
    provider: Provider = Provider.ALIYUN,
) -> None:
    """Record that ``task_id`` belongs to the relay (idempotent)."""
    conn.execute(
        "INSERT INTO relay_tasks (provider, task_id, relay_id, generation, created_at_ms) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, task_id) DO UPDATE SET "
        "relay_id = excluded.relay_id, generation = excluded.generation",
        (provider.value, task_id, relay_id, generation, now_ms()),
    )


def retire_task(conn: Db, task_id: str, *, provider: Provider = Provider.ALIYUN) -> None:
    """Mark a task that relaywarden itself deletes, so its exit is not taken for the relay's end."""
    conn.execute(
        "UPDATE relay_tasks SET retired_by_us = 1 WHERE provider = ? AND task_id = ?",
        (provider.value, task_id),
    )


def relay_task(conn: Db, provider: str, task_id: str) -> RelayTaskLink | None:
    """How a task belongs to its relay, or None."""
    row = one(
        conn.execute(
            "SELECT relay_id, task_id, generation, retired_by_us FROM relay_tasks "
            "WHERE provider = ? AND task_id = ?",
            (provider, task_id),
        )
    )
    return None if row is None else msgspec.convert(row, RelayTaskLink, strict=False)


def tasks_of(conn: Db, relay_id: str) -> list[RelayTaskLink]:
    """Every task a relay had, by generation, with each task's last known status."""
    found = rows(
        conn.execute(
            "SELECT rt.relay_id, rt.task_id, rt.generation, rt.retired_by_us, t.status "
            "FROM relay_tasks rt LEFT JOIN tasks t "
            "ON t.provider = rt.provider AND t.task_id = rt.task_id "
            "WHERE rt.relay_id = ? ORDER BY rt.generation",
            (relay_id,),
        )
    )
    return msgspec.convert(found, list[RelayTaskLink], strict=False)


def ingests_of(conn: Db, relay_id: str) -> list[IngestLink]:
    """The TRTC ingests linked to a relay, oldest first."""
    found = rows(conn.execute("SELECT * FROM ingests WHERE relay_id = ? ORDER BY id", (relay_id,)))
    return msgspec.convert(found, list[IngestLink], strict=False)


def has_ingests(conn: Db, relay_id: str) -> bool:
    """True when any TRTC ingest is linked to the relay."""
    row = conn.execute("SELECT 1 FROM ingests WHERE relay_id = ? LIMIT 1", (relay_id,))
    return row.fetchone() is not None


def add_ingest(
    conn: Db,
    relay_id: str,
    *,
    sdk_app_id: int,
    task_id: str,
    state: IngestState,
    owned: bool,
) -> int:
    """Link an ingest to a relay; returns the link id."""
    now = now_ms()
    row = conn.execute(
        "INSERT INTO ingests (relay_id, sdk_app_id, task_id, state, owned, created_at_ms, "
        "updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (relay_id, sdk_app_id, task_id, state.value, int(owned), now, now),
    ).fetchone()
    return int(row[0])


def update_ingest(conn: Db, ingest_id: int, state: IngestState) -> None:
    """Record the state of an ingest link."""
    conn.execute(
        "UPDATE ingests SET state = ?, updated_at_ms = ? WHERE id = ?",
        (state.value, now_ms(), ingest_id),
    )
