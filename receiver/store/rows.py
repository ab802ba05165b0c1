"""Row helpers shared by the SQLite query modules."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

__all__ = ["Row", "now_ms", "one", "rows"]

#: One SQLite row keyed by column name; the store turns rows into domain records.
Row = dict[str, Any]


def now_ms() -> int:
    """Wall-clock time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def rows(cursor: sqlite3.Cursor) -> list[Row]:
    """All rows of ``cursor`` as dicts keyed by column name."""
    names = [column[0] for column in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def one(cursor: sqlite3.Cursor) -> Row | None:
    """The first row of ``cursor`` as a dict, or None."""
    found = rows(cursor)
    return found[0] if found else None
