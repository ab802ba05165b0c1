"""Low-priority calls (the reconciler's) share a limiter's window but yield to the others."""

from __future__ import annotations

import asyncio
import time

import pytest

from handlers.ratelimit import WindowRateLimiter


@pytest.mark.anyio
async def test_low_priority_waits_for_high_priority_waiters_and_keeps_a_reserve() -> None:
    limiter = WindowRateLimiter(5, window=0.5)
    low = limiter.low_priority()
    assert low.reserve == 1
    order: list[str] = []

    async def call(kind: str, through: WindowRateLimiter) -> None:
        async with through.call():
            order.append(kind)
            await asyncio.sleep(0.01)

    # Low-priority calls queued first; high-priority ones arrive a moment later.
    lows = [asyncio.create_task(call("low", low)) for _ in range(6)]
    await asyncio.sleep(0)
    highs = [asyncio.create_task(call("high", limiter)) for _ in range(6)]
    started = time.monotonic()
    await asyncio.gather(*lows, *highs)
    elapsed = time.monotonic() - started
    # Low calls only fill the window up to qps - reserve (4 of 5): the high ones (six, more
    # than a window) all go before the last low ones.
    assert order.count("low") == 6 and order.count("high") == 6
    assert max(i for i, kind in enumerate(order) if kind == "high") < len(order) - 1
    assert order[-1] == "low"
    assert elapsed >= 0.5  # twelve calls at five per half second need at least two windows


@pytest.mark.anyio
async def test_low_priority_alone_uses_all_but_the_reserve() -> None:
    limiter = WindowRateLimiter(5, window=0.3)
    low = limiter.low_priority(reserve=2)
    starts: list[float] = []

    async def call() -> None:
        async with low.call() as start:
            starts.append(start)

    await asyncio.gather(*(call() for _ in range(6)))
    first_window = [s for s in starts if s - starts[0] < 0.3]
    assert len(first_window) == 3  # qps 5 - reserve 2
    assert limiter.occupancy() <= 5
