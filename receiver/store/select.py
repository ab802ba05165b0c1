"""Which store a database URL means, and running its migrations on their own.

``sqlite:///path`` is the embedded default (one ``serve`` process per file);
``postgresql://user@host:port/db`` is the shared store several replicas run on.
"""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from receiver.config import is_postgres_url, sqlite_path_from_url
from receiver.domain.plan import Planner
from receiver.store.migrations import migrate
from receiver.store.postgres.store import PgStore, migrate_url
from receiver.store.sqlite import SqliteStore
from receiver.store.writer import connect

__all__ = ["AnyStore", "build_store", "describe_database", "migrate_database"]

#: The stores a URL can select (both implement ``receiver.store.base.Store``).
AnyStore = SqliteStore | PgStore


def build_store(url: str, *, planner: Planner | None = None) -> AnyStore:
    """The store for ``url`` (not started)."""
    if is_postgres_url(url):
        return PgStore(url, planner=planner)
    return SqliteStore(sqlite_path_from_url(url), planner=planner)


def describe_database(url: str) -> str:
    """``url`` for logs and messages: the SQLite path, or PostgreSQL without its password."""
    if not is_postgres_url(url):
        return sqlite_path_from_url(url)
    parts = conninfo_to_dict(url)
    host, port, name = (
        parts.get("host", "localhost"),
        parts.get("port", "5432"),
        parts.get("dbname"),
    )
    return f"postgresql://{parts.get('user', '')}@{host}:{port}/{name or ''}"


def migrate_database(url: str) -> tuple[int, int]:
    """Bring the schema at ``url`` to this version; returns (version before, after)."""
    if is_postgres_url(url):
        return migrate_url(url)
    conn = connect(sqlite_path_from_url(url))
    try:
        before = int(conn.execute("PRAGMA user_version").fetchone()[0])
        return before, migrate(conn)
    finally:
        conn.close()
