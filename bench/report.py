"""Figures measured by the scenarios, checked against the issue's targets, and printed."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Figure", "Report"]


@dataclass(frozen=True)
class Figure:
    """One measured value and the target it is held to (``passed`` None: no target)."""

    scenario: str
    name: str
    value: float
    unit: str
    target: str
    passed: bool | None

    @classmethod
    def at_most(
        cls, scenario: str, name: str, value: float, unit: str, limit: float, note: str = ""
    ) -> Figure:
        target = f"<= {_number(limit)} {unit}".rstrip() + (f" ({note})" if note else "")
        return cls(scenario, name, value, unit, target, value <= limit)

    @classmethod
    def at_least(
        cls, scenario: str, name: str, value: float, unit: str, limit: float, note: str = ""
    ) -> Figure:
        target = f">= {_number(limit)} {unit}".rstrip() + (f" ({note})" if note else "")
        return cls(scenario, name, value, unit, target, value >= limit)

    @classmethod
    def info(cls, scenario: str, name: str, value: float, unit: str, note: str = "") -> Figure:
        return cls(scenario, name, value, unit, note, None)

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: ""}[self.passed]

    @property
    def shown(self) -> str:
        return f"{_number(self.value)} {self.unit}".rstrip()


def _number(value: float) -> str:
    if value != value:  # NaN: nothing was measured
        return "n/a"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass
class Report:
    """Figures and raw details of one ``bench/run.py`` invocation."""

    options: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # reasons the figures are not valid

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def outcome(self, scenario: str, line: str, details: dict[str, Any]) -> None:
        """Print a scenario's one-line outcome now; keep its details for ``--json``."""
        print(f"  {line}", flush=True)
        self.details[scenario] = details

    def machine(self) -> dict[str, Any]:
        """What ran the bench, and how busy the machine was (1-minute load average)."""
        return {
            "cpus": os.cpu_count(),
            "load_average": round(os.getloadavg()[0], 2),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        }

    def table(self) -> str:
        """The summary: figure, value, target, pass/fail."""
        rows = [("scenario", "figure", "value", "target", "result")]
        rows += [(f.scenario, f.name, f.shown, f.target, f.verdict) for f in self.figures]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(line.rstrip() for line in lines)

    def write_json(self, path: Path) -> None:
        data = {
            "machine": self.machine(),
            "options": self.options,
            "figures": [asdict(f) for f in self.figures],
            "details": self.details,
            "problems": self.problems,
        }
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
