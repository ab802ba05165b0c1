"""A strict sliding-window rate limiter for provider API calls.

Providers count calls per account in any 1-second window, so a token bucket (which allows a
burst on top of the rate) is not good enough: this keeps a log of the last ``qps`` calls and
lets a call start only when fewer than ``qps`` of them are inside the window.

The provider counts a call when it *arrives*, somewhere between our start and the answer,
and network delays vary (a fresh TLS connection is much slower than a reused one). So a call
made through :meth:`WindowRateLimiter.call` occupies its slot until its answer is in: a new
call starts only when fewer than ``qps`` earlier calls *ended* less than a window ago (calls
still in flight count too). Whatever the delays, no ``qps + 1`` calls can then arrive at the
provider within one window, and no more than ``qps`` calls ever start within one window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

__all__ = ["RateLimiter", "SharedRateLimiter", "SlotLog", "WindowRateLimiter"]


class RateLimiter(Protocol):
    """What a provider client needs: a slot held for each call, start to answer."""

    qps: int

    def call(self) -> AbstractAsyncContextManager[float]:
        """Hold a slot for one call; yields the start time."""
        ...


class SlotLog(Protocol):
    """A slot log shared by replicas (the store implements it, e.g. in PostgreSQL)."""

    async def try_take(
        self, bucket: str, qps: int, window: float, hold: float
    ) -> tuple[int | None, float]:
        """``(slot_id, 0)`` when a call may start now, else ``(None, seconds to wait)``."""
        ...

    async def release(self, slot_id: int) -> None:
        """The call holding ``slot_id`` has its answer."""
        ...


class _Slot:
    __slots__ = ("end", "start")

    def __init__(self, start: float, end: float | None) -> None:
        self.start = start
        self.end = end  # None while the call is in flight


class WindowRateLimiter:
    """At most ``qps`` calls in any ``window`` seconds, for many asyncio tasks at once.

    Waiters are served first come, first served (an ``asyncio.Lock`` is FIFO); there is no
    burst allowance. ``clock`` and ``sleep`` are injectable for tests (a virtual clock).
    """

    def __init__(
        self,
        qps: int,
        *,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if qps < 1:
            raise ValueError(f"qps must be at least 1, got {qps}")
        if window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        self.qps = qps
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._slots: list[_Slot] = []
        self._lock = asyncio.Lock()
        self._ended = asyncio.Event()

    def __repr__(self) -> str:
        return f"WindowRateLimiter(qps={self.qps}, window={self.window})"

    async def acquire(self) -> float:
        """Wait until a call may start; record it as starting (and ending) now.

        Returns the start time on ``clock``. Cancelling a waiting ``acquire`` takes no slot.
        Prefer :meth:`call`, which also covers the time the call is in flight.
        """
        slot = await self._take(in_flight=False)
        return slot.start

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[float]:
        """Hold a slot for one call, from its start until the block exits (answer received).

        Yields the start time on ``clock``.
        """
        slot = await self._take(in_flight=True)
        try:
            yield slot.start
        finally:
            slot.end = self._clock()
            self._ended.set()

    async def _take(self, *, in_flight: bool) -> _Slot:
        async with self._lock:
            while True:
                now = self._clock()
                # Compared as a difference, the way an observer measures a window.
                self._slots = [s for s in self._slots if s.end is None or now - s.end < self.window]
                excess = len(self._slots) - self.qps + 1
                if excess <= 0:
                    break
                ends = sorted(s.end for s in self._slots if s.end is not None)
                if len(ends) >= excess:
                    # Finished calls leave the window first: sleep until enough have left.
                    await self._sleep(max(self.window - (now - ends[excess - 1]), 1e-6))
                    continue
                # Too many calls are in flight: wait for one to end, then look again.
                self._ended.clear()
                await self._ended.wait()
            now = self._clock()
            slot = _Slot(now, None if in_flight else now)
            self._slots.append(slot)
            return slot


class SharedRateLimiter:
    """The :class:`WindowRateLimiter` rule over a slot log that all replicas share.

    Within one process, callers queue on a FIFO lock so that only one of them asks the
    shared log at a time; across processes the log's own locking decides.
    """

    def __init__(
        self,
        log: SlotLog,
        bucket: str,
        qps: int,
        *,
        window: float = 1.0,
        hold: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if qps < 1:
            raise ValueError(f"qps must be at least 1, got {qps}")
        self.qps = qps
        self.bucket = bucket
        self.window = window
        self.hold = hold
        self._log = log
        self._sleep = sleep
        self._clock = clock
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SharedRateLimiter(bucket={self.bucket!r}, qps={self.qps}, window={self.window})"

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[float]:
        """Hold a shared slot for one call, from its start until the block exits."""
        async with self._lock:
            while True:
                slot, wait = await self._log.try_take(self.bucket, self.qps, self.window, self.hold)
                if slot is not None:
                    break
                await self._sleep(wait)
        try:
            yield self._clock()
        finally:
            # Shielded: a cancelled call must still give its slot back, or the budget
            # would look spent until the hold runs out.
            await asyncio.shield(self._log.release(slot))
