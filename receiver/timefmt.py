"""How the API writes times: ISO 8601 UTC with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_time"]


def iso_time(ms: int | None) -> str | None:
    """Milliseconds since the epoch as an ISO 8601 UTC string (None stays None)."""
    if ms is None:
        return None
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):  # beyond year 9999: not a real time
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
