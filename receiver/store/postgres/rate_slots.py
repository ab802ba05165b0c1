"""One provider QPS budget shared by every replica, kept in PostgreSQL.

Each provider account allows ``qps`` calls in any 1-second window, whichever replica makes
them. A call takes a *slot* row before it starts and marks it ended when its answer is in;
a new call may start only while fewer than ``qps`` slots are in flight or ended less than a
window ago. That is the rule of the in-process :class:`handlers.ratelimit.WindowRateLimiter`,
moved into the database so that all replicas see the same log, and timed by the database's
clock so that replicas' clocks cannot disagree about a window.

Taking a slot is one short transaction under a per-bucket advisory lock, so two replicas
never both see room for the last slot. A replica that dies mid-call leaves its slot in
flight: it counts until ``expires_at`` (the longest a call may take) and then as ended.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg_pool import AsyncConnectionPool

__all__ = ["PgRateSlots"]


class PgRateSlots:
    """Slot log of the shared rate limits (table ``rate_slots``)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def try_take(
        self, bucket: str, qps: int, window: float, hold: float
    ) -> tuple[int | None, float]:
        """Take a slot of ``bucket`` now if the window has room.

        Returns ``(slot_id, 0.0)`` when taken, else ``(None, seconds)`` to wait before
        asking again. ``hold`` bounds how long an unreleased slot counts as in flight.
        """
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (bucket,))
            await conn.execute(
                "DELETE FROM rate_slots WHERE bucket = %s "
                "AND COALESCE(ended_at, expires_at) <= clock_timestamp() - %s",
                (bucket, timedelta(seconds=window)),
            )
            cursor = await conn.execute(
                "SELECT clock_timestamp(), ended_at, expires_at FROM rate_slots WHERE bucket = %s",
                (bucket,),
            )
            rows = await cursor.fetchall()
            now: datetime
            if rows:
                now = rows[0][0]
            else:
                row = await (await conn.execute("SELECT clock_timestamp()")).fetchone()
                assert row is not None
                now = row[0]
            if len(rows) < qps:
                taken = await (
                    await conn.execute(
                        "INSERT INTO rate_slots (bucket, started_at, expires_at) "
                        "VALUES (%s, %s, %s) RETURNING id",
                        (bucket, now, now + timedelta(seconds=hold)),
                    )
                ).fetchone()
                assert taken is not None
                return int(taken[0]), 0.0
            ends = sorted(
                ended if ended is not None else expires
                for _, ended, expires in rows
                if ended is not None or expires <= now
            )
            excess = len(rows) - qps + 1
            if len(ends) >= excess:
                # Ended calls leave the window first: wait until enough of them have left.
                elapsed = (now - ends[excess - 1]).total_seconds()
                return None, max(window - elapsed, 0.001)
            # Too many calls in flight: their answers free the window; look again soon.
            soonest = min(expires for _, ended, expires in rows if ended is None)
            return None, min(max((soonest - now).total_seconds(), 0.001), 0.02)

    async def release(self, slot_id: int) -> None:
        """Mark a call's answer as received (its slot then ages out of the window)."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE rate_slots SET ended_at = clock_timestamp() WHERE id = %s", (slot_id,)
            )
