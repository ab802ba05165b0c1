"""Row helpers shared by the store's query modules (both backends)."""

from __future__ import annotations

import time
from typing import Any

from receiver.store.dialect import Cursor

__all__ = ["now_ms", "one", "rows"]


def now_ms() -> int:
    """Wall-clock time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def rows(cursor: Cursor) -> list[dict[str, Any]]:
    """All rows of ``cursor`` as dicts keyed by column name."""
    names = [column[0] for column in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def one(cursor: Cursor) -> dict[str, Any] | None:
    """The first row of ``cursor`` as a dict, or None."""
    found = rows(cursor)
    return found[0] if found else None
