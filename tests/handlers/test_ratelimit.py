"""WindowRateLimiter: never more than qps starts in any window, FIFO, no burst."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.ratelimit import WindowRateLimiter
from tests.fakes.common import max_in_window


class VirtualClock:
    """A clock that only moves when someone sleeps on it (one sleeper at a time: the lock)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def _concurrent_starts(limiter: WindowRateLimiter, n: int) -> list[tuple[int, float]]:
    order: list[tuple[int, float]] = []

    async def one(index: int) -> None:
        order.append((index, await limiter.acquire()))

    tasks = []
    for index in range(n):
        tasks.append(asyncio.create_task(one(index)))
        await asyncio.sleep(0)  # queue them in index order
    await asyncio.gather(*tasks)
    return order


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(qps=st.integers(1, 20), n=st.integers(1, 80))
def test_concurrent_acquires_never_exceed_qps_in_any_window(qps: int, n: int) -> None:
    clock = VirtualClock()
    limiter = WindowRateLimiter(qps, clock=clock, sleep=clock.sleep)
    order = anyio.run(_concurrent_starts, limiter, n, backend="asyncio")
    starts = [start for _, start in order]
    assert len(starts) == n
    assert max_in_window(starts, 1.0) <= qps
    # FIFO: calls start in the order they asked.
    assert [index for index, _ in order] == list(range(n))
    # No burst beyond qps and no needless waiting: start k is exactly one window after k-qps.
    for k, start in enumerate(starts):
        expected = 0.0 if k < qps else starts[k - qps] + 1.0
        assert start == pytest.approx(expected)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(qps=st.integers(1, 10), gaps=st.lists(st.floats(0, 1.5), min_size=1, max_size=60))
def test_spread_out_calls_wait_only_when_the_window_is_full(qps: int, gaps: list[float]) -> None:
    clock = VirtualClock()
    limiter = WindowRateLimiter(qps, clock=clock, sleep=clock.sleep)

    async def scenario() -> list[tuple[float, float]]:
        out = []
        for gap in gaps:
            clock.now += gap
            asked = clock.now
            out.append((asked, await limiter.acquire()))
        return out

    calls = anyio.run(scenario, backend="asyncio")
    starts = [start for _, start in calls]
    assert max_in_window(starts, 1.0) <= qps
    for k, (asked, start) in enumerate(calls):
        earliest = asked if k < qps else max(asked, starts[k - qps] + 1.0)
        assert start == pytest.approx(earliest)


@pytest.mark.anyio
async def test_real_clock_many_tasks() -> None:
    limiter = WindowRateLimiter(10)
    stamps: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        stamps.append(time.monotonic())

    began = time.monotonic()
    await asyncio.gather(*(one() for _ in range(21)))
    assert len(stamps) == 21
    assert max_in_window(stamps, 1.0) <= 10
    assert time.monotonic() - began >= 2.0  # 21 calls at 10/s need two full windows


@pytest.mark.anyio
async def test_cancelled_waiter_takes_no_slot() -> None:
    limiter = WindowRateLimiter(1, window=0.2)
    first = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    second = await limiter.acquire()
    assert 0.2 <= second - first < 0.35


@pytest.mark.anyio
async def test_a_call_holds_its_slot_until_its_answer() -> None:
    """The window counts from a call's end, so slow answers cannot crowd the provider."""
    limiter = WindowRateLimiter(2, window=0.2)
    release = asyncio.Event()
    ended: list[float] = []

    async def slow_call() -> None:
        async with limiter.call():
            await release.wait()
        ended.append(time.monotonic())

    calls = [asyncio.create_task(slow_call()) for _ in range(2)]
    await asyncio.sleep(0.01)
    third = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.4)  # two windows: only in-flight calls hold the third back
    assert not third.done()
    release.set()
    await asyncio.gather(*calls)
    await third
    assert time.monotonic() - max(ended) >= 0.2 - 0.01


@pytest.mark.anyio
async def test_the_slot_ends_when_the_call_fails() -> None:
    limiter = WindowRateLimiter(1, window=0.1)
    with pytest.raises(RuntimeError):
        async with limiter.call():
            raise RuntimeError("boom")
    began = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - began < 0.3


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        WindowRateLimiter(0)
    with pytest.raises(ValueError):
        WindowRateLimiter(5, window=0)
