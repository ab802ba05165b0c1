"""The forwarding outbox over a SQL store's ``write`` and ``read`` (both backends)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TypeVar

from receiver.domain.forwards import ClaimedForward, ForwardAttempt, ForwardRecord, ForwardState
from receiver.store import forwards
from receiver.store.dialect import Db
from receiver.store.rows import now_ms

__all__ = ["SqlForwards"]

T = TypeVar("T")


class SqlForwards(abc.ABC):
    """``receiver.store.forward_interface.ForwardStore`` in SQL, as a store mixin."""

    @abc.abstractmethod
    async def write(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` in the next write transaction (the store's ``write``)."""

    @abc.abstractmethod
    async def read(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` on a read connection (the store's ``read``)."""

    async def claim_forwards(
        self, *, limit: int, lease_ms: int, now: int | None = None
    ) -> list[ClaimedForward]:
        """Claim up to ``limit`` due forwards under a lease (never one claimed elsewhere)."""
        at = now_ms() if now is None else now
        return await self.write(
            lambda conn: forwards.claim_forwards(conn, limit=limit, lease_ms=lease_ms, now=at)
        )

    async def finish_forward(self, claim: ClaimedForward, attempt: ForwardAttempt) -> bool:
        """Record an attempt's outcome; False when another claim took the forward over."""

        def run(conn: Db) -> bool:
            return forwards.finish_forward(conn, claim, attempt, now_ms())

        return await self.write(run)

    async def release_claimed_forwards(self) -> int:
        """Claimed forwards back to pending, due now (a one-process store, at start)."""
        return await self.write(lambda conn: forwards.release_claimed_forwards(conn, now_ms()))

    async def list_forwards(
        self, *, state: ForwardState | None, limit: int, cursor: int | None
    ) -> list[ForwardRecord]:
        """Forwards newest first, filtered by state."""
        return await self.read(
            lambda conn: forwards.list_forwards(conn, state=state, limit=limit, cursor=cursor)
        )

    async def get_forward(self, forward_id: int) -> ForwardRecord | None:
        """One forward, or None."""
        return await self.read(lambda conn: forwards.get_forward(conn, forward_id))

    async def retry_dead_forwards(
        self, *, forward_id: int | None = None, limit: int = 500
    ) -> list[ForwardRecord]:
        """Dead forwards (one, or the oldest ``limit``) back to pending, due now."""
        return await self.write(
            lambda conn: forwards.retry_dead_forwards(
                conn, forward_id=forward_id, limit=limit, now=now_ms()
            )
        )
