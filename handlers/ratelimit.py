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

Background calls (the reconciler's) go through a limiter's ``low_priority()`` view: the
same budget, taken only when nobody else waits and a reserve stays free, in one process
(:class:`LowPriorityLimiter`) or across replicas (:class:`SharedLowPriorityLimiter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

__all__ = [
    "LowPriorityLimiter",
    "PriorityLimiter",
    "RateLimiter",
    "SharedLowPriorityLimiter",
    "SharedRateLimiter",
    "SlotLog",
    "WindowRateLimiter",
]


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


class PriorityLimiter(RateLimiter, Protocol):
    """A rate limiter that lends background callers a low-priority view of its budget."""

    def low_priority(self, reserve: int | None = None) -> RateLimiter:
        """Calls through the same budget that yield to this limiter's other callers."""
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
        self._waiting = 0  # callers of ``_take`` that have not got their slot yet

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

    def low_priority(self, reserve: int | None = None) -> LowPriorityLimiter:
        """A view of this limiter for background calls (the reconciler's).

        It shares the same window, but takes a slot only when no other caller waits and
        ``reserve`` slots (default a fifth of ``qps``, at least one) stay free for them.
        """
        return LowPriorityLimiter(self, reserve)

    def occupancy(self) -> int:
        """Calls in the window now (in flight or ended less than a window ago)."""
        now = self._clock()
        return sum(1 for s in self._slots if s.end is None or now - s.end < self.window)

    def contended(self) -> bool:
        """True while some caller waits for a slot."""
        return self._waiting > 0 or self._lock.locked()

    async def _take(self, *, in_flight: bool) -> _Slot:
        self._waiting += 1
        try:
            async with self._lock:
                return await self._take_locked(in_flight=in_flight)
        finally:
            self._waiting -= 1

    async def _take_locked(self, *, in_flight: bool) -> _Slot:
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


class LowPriorityLimiter(WindowRateLimiter):
    """Calls through the window of another limiter, yielding to its other callers."""

    def __init__(self, parent: WindowRateLimiter, reserve: int | None = None) -> None:
        super().__init__(parent.qps, window=parent.window, clock=parent._clock, sleep=parent._sleep)
        self.parent = parent
        self.reserve = max(1, parent.qps // 5) if reserve is None else reserve
        self._poll = parent.window / parent.qps

    def __repr__(self) -> str:
        return f"LowPriorityLimiter({self.parent!r}, reserve={self.reserve})"

    async def _take(self, *, in_flight: bool) -> _Slot:
        # Wait for a quiet moment: nobody else waiting, and room beyond the reserve.
        while self.parent.contended() or (
            self.parent.occupancy() >= max(1, self.parent.qps - self.reserve)
        ):
            await self._sleep(self._poll)
        slot = await self.parent._take(in_flight=in_flight)
        return slot

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[float]:
        """Hold a slot of the parent's window for one call (see ``WindowRateLimiter.call``)."""
        slot = await self._take(in_flight=True)
        try:
            yield slot.start
        finally:
            slot.end = self.parent._clock()
            self.parent._ended.set()


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

    def low_priority(self, reserve: int | None = None) -> SharedLowPriorityLimiter:
        """A view of this budget for background calls (the reconciler's).

        It takes slots of the same bucket, but only while no caller of this limiter waits
        and ``reserve`` slots (default a fifth of ``qps``, at least one) of the shared
        window stay free, whichever replica fills it.
        """
        return SharedLowPriorityLimiter(self, reserve)

    def contended(self) -> bool:
        """True while some caller of this replica waits for a slot."""
        return self._lock.locked()

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[float]:
        """Hold a shared slot for one call, from its start until the block exits."""
        async with self._lock:
            while True:
                slot, wait = await self._log.try_take(self.bucket, self.qps, self.window, self.hold)
                if slot is not None:
                    break
                await self._sleep(wait)
        async with self._holding(slot) as start:
            yield start

    @contextlib.asynccontextmanager
    async def _holding(self, slot: int) -> AsyncIterator[float]:
        try:
            yield self._clock()
        finally:
            # Shielded: a cancelled call must still give its slot back, or the budget
            # would look spent until the hold runs out.
            await asyncio.shield(self._log.release(slot))


class SharedLowPriorityLimiter:
    """Calls through a :class:`SharedRateLimiter`'s bucket, yielding to its other callers.

    The reserve holds across replicas: a low-priority call asks the shared log with a
    ceiling of ``qps - reserve``, so it starts only while the whole window, every replica's
    calls counted, has room beyond the reserve.
    """

    def __init__(self, parent: SharedRateLimiter, reserve: int | None = None) -> None:
        self.parent = parent
        self.qps = parent.qps
        self.reserve = max(1, parent.qps // 5) if reserve is None else reserve
        self._poll = parent.window / parent.qps

    def __repr__(self) -> str:
        return f"SharedLowPriorityLimiter({self.parent!r}, reserve={self.reserve})"

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[float]:
        """Hold a shared slot for one call (see ``SharedRateLimiter.call``)."""
        parent = self.parent
        ceiling = max(1, parent.qps - self.reserve)
        while True:
            if parent.contended():
                await parent._sleep(self._poll)
                continue
            slot, wait = await parent._log.try_take(
                parent.bucket, ceiling, parent.window, parent.hold
            )
            if slot is not None:
                break
            await parent._sleep(max(wait, self._poll))
        async with parent._holding(slot) as start:
            yield start
