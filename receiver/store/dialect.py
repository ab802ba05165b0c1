"""One set of SQL functions for both backends: the connection shape they need.

The store's query modules are written once, against :class:`Db` (the slice of
``sqlite3.Connection`` they use: ``execute`` with ``?`` placeholders, a cursor with
``fetchone``/``fetchall``/``description``). A SQLite connection is one as it is;
:class:`PgConnection` wraps a psycopg 3 connection to look the same, turning ``?`` into
psycopg's ``%s``. The few statements that differ between the databases ask
:func:`is_postgres` and pick their spelling (row locks, JSON functions).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import psycopg

__all__ = ["Cursor", "Db", "PgConnection", "is_postgres"]


class Cursor(Protocol):
    """The result of one statement."""

    @property
    def description(self) -> Any:
        """Column descriptions (the first item of each is the name), or None."""
        ...

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""
        ...

    def fetchone(self) -> Any:
        """The next row as a tuple, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """Every remaining row as a tuple."""
        ...

    def __iter__(self) -> Iterator[Any]:
        """The remaining rows."""
        ...


class Db(Protocol):
    """A connection inside a transaction the store controls."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        """Run one statement with ``?`` placeholders."""
        ...


_PLACEHOLDER = re.compile(r"\?")


@functools.lru_cache(maxsize=512)
def _to_pyformat(sql: str) -> str:
    # The store's statements hold no literal '?' or '%' characters, so a plain textual
    # translation is exact (a literal '%' would be doubled for psycopg).
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class PgConnection:
    """A psycopg connection that takes the store's ``?``-style statements."""

    __slots__ = ("raw",)

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        """Run one statement (``?`` placeholders) and return its cursor."""
        if parameters:
            return self.raw.execute(_to_pyformat(sql), tuple(parameters))
        return self.raw.execute(sql)


def is_postgres(conn: Db) -> bool:
    """True when ``conn`` talks to PostgreSQL (statements that differ check this)."""
    return isinstance(conn, PgConnection)
