"""A strict sliding-window rate limiter for provider API calls.

Providers count calls per account in any 1-second window, so a token bucket (which allows
a burst on top of the rate) is not good enough: this keeps a log of the last ``qps`` start
times and lets a call start only when the oldest of them is at least one window old.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["WindowRateLimiter"]


class WindowRateLimiter:
    """At most ``qps`` call starts in any ``window`` seconds, for many asyncio tasks at once.

    Waiters are served first come, first served (an ``asyncio.Lock`` is FIFO). ``margin``
    widens the window a little so that the provider, which sees our calls after a variable
    network delay, never counts more than ``qps`` in its own window; it only ever makes the
    limiter stricter. ``clock`` and ``sleep`` are injectable for tests (a virtual clock).
    """

    def __init__(
        self,
        qps: int,
        *,
        window: float = 1.0,
        margin: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if qps < 1:
            raise ValueError(f"qps must be at least 1, got {qps}")
        if window <= 0 or margin < 0:
            raise ValueError("window must be positive and margin not negative")
        self.qps = qps
        self.window = window
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque(maxlen=qps)
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"WindowRateLimiter(qps={self.qps}, window={self.window}, margin={self.margin})"

    async def acquire(self) -> float:
        """Wait until a call may start; record and return its start time (on ``clock``).

        Cancelling a waiting ``acquire`` takes no slot.
        """
        async with self._lock:
            span = self.window + self.margin
            while len(self._starts) == self.qps:
                delay = self._starts[0] + span - self._clock()
                if delay <= 0:
                    break
                await self._sleep(delay)
            now = self._clock()
            self._starts.append(now)
            return now
