"""Bounds on adopting tasks from callbacks: a total cap and a rate.

A callback about a task no relay knows makes the planner adopt it as a new relay (with a
job to read its configuration). A flood of callbacks with new task ids, from a provider
gone wrong or from someone holding the main callback token, must not create relays and
jobs without end: beyond ``max_relays`` relays adopted from callbacks (not deleted), or
``per_minute`` adoptions in the last minute, the callback is still stored and acknowledged
(an authenticated body is never lost) but no relay and no job is created, and
``relaywarden_adoptions_refused_total{reason}`` counts it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ADOPTION_REFUSALS", "AdoptionLimits"]

#: The ``reason`` label values of ``relaywarden_adoptions_refused_total``.
ADOPTION_REFUSALS = ("max_relays", "per_minute")


@dataclass(frozen=True, slots=True)
class AdoptionLimits:
    """``RELAYWARDEN_ADOPT_MAX_RELAYS`` and ``RELAYWARDEN_ADOPT_PER_MINUTE``."""

    max_relays: int = 1000
    per_minute: int = 60

    def refusal(self, adopted: int, last_minute: int) -> str | None:
        """Why one more adoption is refused (a reason label), or None when it may go on.

        ``adopted``: relays adopted from callbacks and not deleted; ``last_minute``: those
        adopted in the last 60 seconds.
        """
        if adopted >= self.max_relays:
            return "max_relays"
        if last_minute >= self.per_minute:
            return "per_minute"
        return None
