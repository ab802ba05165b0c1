"""Reading a test's database directly, whichever backend it is on (bypassing the store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from receiver.config import is_postgres_url, sqlite_path_from_url
from receiver.store.dialect import PgConnection

__all__ = ["db_query", "refresh_aggregates"]


def db_query(db: Path | str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of ``sql`` (``?`` placeholders) as dicts; ``db`` is a SQLite path or a URL."""
    if isinstance(db, str) and is_postgres_url(db):
        with psycopg.connect(db, row_factory=dict_row) as pg:
            return list(PgConnection(pg).execute(sql, params).fetchall())
    path = sqlite_path_from_url(db) if isinstance(db, str) else db
    lite = sqlite3.connect(path)
    lite.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in lite.execute(sql, params)]
    finally:
        lite.close()


def refresh_aggregates(store: object) -> None:
    """Make a PostgreSQL store's scrape-time gauges current (SQLite's always are)."""
    aggregates = getattr(store, "aggregates", None)
    if aggregates is not None:
        aggregates.refresh()
