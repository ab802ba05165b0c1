"""Numbers taken from URLs: plain ASCII digits that fit a 64-bit signed database integer.

``str.isdigit`` says yes to ``"²"`` and ``int`` takes ``"٣"`` or ``"1_0"``; neither belongs
in an id or a cursor, and an integer beyond ``BIGINT`` makes SQLite raise
``OverflowError`` and PostgreSQL ``NumericValueOutOfRange`` (a 500). Every number of a query
string or path goes through ``row_int`` first, so such input is a clear 400 or 404.
"""

from __future__ import annotations

__all__ = ["MAX_ROW_INT", "row_int"]

#: The largest integer both backends store (SQLite INTEGER, PostgreSQL BIGINT).
MAX_ROW_INT = 2**63 - 1

#: Digits of ``MAX_ROW_INT``: a longer string is refused before ``int`` sees it.
_MAX_DIGITS = len(str(MAX_ROW_INT))
_ASCII_DIGITS = frozenset("0123456789")


def row_int(text: str | None, *, minimum: int = 0) -> int | None:
    """``text`` as an integer from ``minimum`` to ``MAX_ROW_INT``, or None when it is not one.

    Only ASCII digits are taken (no sign, spaces, underscores or other scripts' digits).
    """
    if not text or len(text) > _MAX_DIGITS or not _ASCII_DIGITS.issuperset(text):
        return None
    value = int(text)
    return value if minimum <= value <= MAX_ROW_INT else None
