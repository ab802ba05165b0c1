"""The forwarding part of the store interface: the outbox of callbacks for
``RELAYWARDEN_FORWARD_URL``. ``receiver.store.base.Store`` includes it.

Both SQL stores implement it with the same SQL (``receiver.store.sql_forwards``).
"""

from __future__ import annotations

from typing import Protocol

from receiver.domain.forwards import ClaimedForward, ForwardAttempt, ForwardRecord, ForwardState

__all__ = ["ForwardStore"]


class ForwardStore(Protocol):
    """What the forwarder, the forwards API and the backlog gauges need of the store."""

    async def claim_forwards(
        self, *, limit: int, lease_ms: int, now: int | None = None
    ) -> list[ClaimedForward]:
        """Claim up to ``limit`` due forwards under a lease (never one claimed elsewhere)."""
        ...

    async def finish_forward(self, claim: ClaimedForward, attempt: ForwardAttempt) -> bool:
        """Record an attempt's outcome; False when another claim took the forward over."""
        ...

    async def release_claimed_forwards(self) -> int:
        """Claimed forwards back to pending, due now (a one-process store, at start)."""
        ...

    async def list_forwards(
        self, *, state: ForwardState | None, limit: int, cursor: int | None
    ) -> list[ForwardRecord]:
        """Forwards newest first, filtered by state."""
        ...

    async def get_forward(self, forward_id: int) -> ForwardRecord | None:
        """One forward, or None."""
        ...

    async def retry_dead_forwards(
        self, *, forward_id: int | None = None, limit: int = 500
    ) -> list[ForwardRecord]:
        """Dead forwards (one, or the oldest ``limit``) back to pending, due now."""
        ...
