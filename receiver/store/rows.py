"""Row helpers shared by the store's query modules (both backends)."""

from __future__ import annotations

import time
from typing import Any

from receiver.store.dialect import Cursor, Db

__all__ = ["Row", "lease_row", "now_ms", "one", "rows", "where"]

#: One row keyed by column name; the store turns rows into domain records.
Row = dict[str, Any]


def now_ms() -> int:
    """Wall-clock time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def rows(cursor: Cursor) -> list[Row]:
    """All rows of ``cursor`` as dicts keyed by column name."""
    names = [column[0] for column in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def one(cursor: Cursor) -> Row | None:
    """The first row of ``cursor`` as a dict, or None."""
    found = rows(cursor)
    return found[0] if found else None


def where(*filters: tuple[str, tuple[object, ...] | None]) -> tuple[str, list[object]]:
    """A ``WHERE`` clause of the filters given (parameters not None) and its parameters.

    Each filter is a condition with ``?`` placeholders and the values for them, or None to
    leave the condition out.
    """
    clauses = [clause for clause, values in filters if values is not None]
    params = [value for _, values in filters if values is not None for value in values]
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def lease_row(conn: Db, table: str, row: Row, state: str, *, now: int, lease_ms: int) -> None:
    """Claim one row of a leased queue (``jobs``, ``forwards``) for ``lease_ms``.

    The row moves to ``state`` with its fence and attempts one higher; ``row`` is updated to
    match, so the caller can build the claimed record from it. A worker whose fence is no
    longer the row's has lost its claim.
    """
    fence = int(row["fence"]) + 1
    conn.execute(
        f"UPDATE {table} SET state = ?, fence = ?, attempts = attempts + 1, "
        "lease_until_ms = ?, updated_at_ms = ? WHERE id = ?",
        (state, fence, now + lease_ms, now, row["id"]),
    )
    row.update(state=state, attempts=int(row["attempts"]) + 1, fence=fence, updated_at_ms=now)
