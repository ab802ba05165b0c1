"""How the CLI prints: aligned tables for people, JSON with ``--json`` for scripts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

__all__ = ["Printer"]

#: States printed in red on a colour terminal: the ones that need an operator.
_ALARMING = frozenset({"failed", "dead", "offline", "unavailable"})
_RED = "\x1b[31m"
_RESET = "\x1b[0m"


class Printer:
    """Writes command results to a stream, as tables or as JSON."""

    def __init__(self, *, as_json: bool, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.color = isatty() and not os.environ.get("NO_COLOR")

    def json(self, value: Any) -> None:
        """The value as indented JSON."""
        print(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False), file=self.stream)

    def result(self, value: Any, text: str) -> None:
        """``value`` as JSON with ``--json``, else the sentence ``text``."""
        if self.as_json:
            self.json(value)
        else:
            self.line(text)

    def listing(
        self, items: Sequence[Any], headers: Sequence[str], row: Callable[[Any], Sequence[Any]]
    ) -> None:
        """``items`` as JSON with ``--json``, else a table of ``row(item)`` for each."""
        if self.as_json:
            self.json(items)
        else:
            self.table(headers, [row(item) for item in items])

    def retried(self, items: Sequence[Any], noun: str) -> None:
        """What a bulk retry put back: ``{"retried": [ids]}`` with ``--json``, else a line."""
        ids = [item["id"] for item in items]
        if self.as_json:
            self.json({"retried": ids})
        else:
            shown = " ".join(f"#{i}" for i in ids)
            self.line(f"retried {len(ids)} dead {noun}(s)" + (f": {shown}" if shown else ""))

    def line(self, text: str = "") -> None:
        """One line of text."""
        print(text, file=self.stream)

    def paint(self, value: str) -> str:
        """``value``, in red on a colour terminal when it names a state needing attention."""
        return f"{_RED}{value}{_RESET}" if self.color and value in _ALARMING else value

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Columns padded to their widest cell; empty values as ``-``."""
        cells = [[_cell(v) for v in row] for row in rows]
        widths = [len(h) for h in headers]
        for row in cells:
            for i, value in enumerate(row):
                widths[i] = max(widths[i], len(value))
        self.line(
            "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
        )
        for row in cells:
            padded = [self.paint(v) + " " * (w - len(v)) for v, w in zip(row, widths, strict=True)]
            self.line("  ".join(padded).rstrip())

    def facts(self, pairs: Sequence[tuple[str, Any]]) -> None:
        """``key  value`` lines, keys aligned."""
        width = max((len(k) for k, _ in pairs), default=0)
        for key, value in pairs:
            self.line(f"{key.ljust(width)}  {self.paint(_cell(value))}")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("\n", " ")
