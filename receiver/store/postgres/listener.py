"""``LISTEN`` for enqueued jobs and token rotations of any replica.

Each enqueueing transaction sends ``NOTIFY`` (delivered at its commit). This listener holds
one connection of its own, and sets an ``asyncio.Event`` the job runner waits on next to
its poll timer, so a job is claimed within a round trip of its commit instead of at the
next poll. A lost connection is reopened after a pause; meanwhile the poll still runs.

A callback token rotation notifies its own channel: :attr:`tokens_changed` is set and the
token sync (``receiver.token_sync``) reloads the token. It is set on every (re)connect
too, since a rotation may have been missed while the connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib

import psycopg
import structlog

from receiver.store.jobs import JOBS_CHANNEL
from receiver.store.queries import TOKENS_CHANNEL

__all__ = ["JobListener"]

log = structlog.get_logger("relaywarden.store")


class JobListener:
    """Sets :attr:`enqueued` whenever a job is enqueued in any replica, and
    :attr:`tokens_changed` whenever one rotates the callback token."""

    def __init__(self, url: str, *, reconnect_seconds: float = 1.0) -> None:
        self._url = url
        self._reconnect = reconnect_seconds
        self.enqueued = asyncio.Event()
        self.tokens_changed = asyncio.Event()
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening in the background (returns once LISTEN is in effect or failed)."""
        self._task = asyncio.create_task(self._run(), name="relaywarden-pg-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), 10)

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {JOBS_CHANNEL}")
                    await conn.execute(f"LISTEN {TOKENS_CHANNEL}")
                    self.listening.set()
                    # Anything enqueued (or rotated) while we were not listening is found
                    # by this poll (and this reload).
                    self.enqueued.set()
                    self.tokens_changed.set()
                    async for notice in conn.notifies():
                        if notice.channel == TOKENS_CHANNEL:
                            self.tokens_changed.set()
                        else:
                            self.enqueued.set()
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("job_listener_lost", error=str(exc))
                await asyncio.sleep(self._reconnect)
