"""The periodic service: rounds on time, and only while this process leads the rounds."""

from __future__ import annotations

import asyncio

import pytest

from receiver.periodic import PeriodicService

pytestmark = pytest.mark.anyio


class Counting(PeriodicService):
    """Counts its rounds and the rounds it left to the leader."""

    name = "counting"

    def __init__(self, leads: list[bool]) -> None:
        self.leads = leads
        self.ran = 0
        self.followed = 0
        super().__init__(0.01, first_at_start=True, leader=self._leader)

    async def _leader(self) -> bool:
        return self.leads[0]

    async def run_once(self) -> None:
        self.ran += 1

    def follow(self) -> None:
        self.followed += 1


async def _run_for(service: PeriodicService, seconds: float) -> None:
    await service.start()
    await asyncio.sleep(seconds)
    await service.stop()


async def test_a_follower_skips_every_round_and_follows() -> None:
    service = Counting([False])
    await _run_for(service, 0.15)
    assert service.ran == 0 and service.rounds == 0
    assert service.followed == service.skipped >= 3


async def test_rounds_start_once_the_leadership_is_taken() -> None:
    service = Counting([False])
    await service.start()
    await asyncio.sleep(0.05)
    followed = service.followed
    service.leads[0] = True
    await asyncio.sleep(0.1)
    await service.stop()
    assert followed >= 1 and service.followed == followed
    assert service.ran == service.rounds >= 3


async def test_a_failing_leader_check_skips_the_round_and_the_loop_goes_on() -> None:
    calls: list[int] = []

    async def flaky() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return True

    service = Counting([True])
    service.leader = flaky
    await _run_for(service, 0.1)
    assert len(calls) >= 3 and service.ran == len(calls) - 1
