"""A background service that does one round of work every so often (reconciler, retention).

A round that fails is logged and the next one comes on time; ``stop`` cancels a round in
progress (each round's writes are transactions of their own, so none is left half done).
With a ``leader`` check (``Store.leads_rounds``), a round runs only on the replica that
holds the leadership of a shared database; the others skip it (and :meth:`follow`), so
several replicas do each round's work (and provider calls) once, not once per replica.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

__all__ = ["PeriodicService"]

log = structlog.get_logger("relaywarden.periodic")


class PeriodicService(abc.ABC):
    """Runs :meth:`run_once` every ``interval`` seconds (first right away, or after one)."""

    name: str

    def __init__(
        self,
        interval_seconds: float,
        *,
        first_at_start: bool,
        leader: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.interval = interval_seconds
        self.first_at_start = first_at_start
        self.leader = leader
        #: Rounds run and rounds skipped because another replica leads.
        self.rounds = 0
        self.skipped = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @abc.abstractmethod
    async def run_once(self) -> object:
        """One round of work."""

    def follow(self) -> None:
        """Called instead of a round while another replica leads (drop what it exports)."""
        log.debug("round_skipped", service=self.name, reason="another replica leads")

    async def _leads(self) -> bool:
        return self.leader is None or await self.leader()

    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the loop."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name=f"relaywarden-{self.name}")

    async def stop(self) -> None:
        """Stop the loop, cancelling a round in progress."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        wait_first = not self.first_at_start
        while not self._stopping.is_set():
            if wait_first:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.interval)
                if self._stopping.is_set():
                    return
            wait_first = True
            try:
                if not await self._leads():
                    self.skipped += 1
                    self.follow()
                    continue
                self.rounds += 1
                await self.run_once()
            except Exception:  # keep going through store or provider trouble
                log.exception("round_failed", service=self.name)
