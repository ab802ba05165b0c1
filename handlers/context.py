"""What an action gets to do its work: the job, the store, the provider clients."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from handlers.aliyun_client import AliyunLiveClient
from handlers.trtc_client import TrtcClient
from receiver.store.jobs import ClaimedJob, check_fence
from receiver.store.relays import get_relay
from receiver.store.sqlite import SqliteStore

__all__ = ["ActionContext", "CallbackUrlFactory"]

T = TypeVar("T")

#: Builds the CallbackUrl relaywarden registers for a relay's task (relay id, region).
CallbackUrlFactory = Callable[[str, str], str]


@dataclass
class ActionContext:
    """One run of one job."""

    job: ClaimedJob
    store: SqliteStore
    aliyun: AliyunLiveClient
    trtc: TrtcClient
    callback_url: CallbackUrlFactory
    lease_ms: int

    async def checkpoint(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Commit ``fn``'s writes, but only while this run still holds the job's lease.

        Raises ``LeaseLost`` when the job was claimed again; extends the lease otherwise.
        """
        job = self.job
        lease = self.lease_ms

        def fenced(conn: sqlite3.Connection) -> T:
            check_fence(conn, job.id, job.fence, extend_lease_ms=lease)
            return fn(conn)

        return await self.store.write(fenced)

    async def relay(self) -> dict[str, Any] | None:
        """The job's relay as it is now (None for jobs without one, or a vanished relay)."""
        relay_id = self.job.relay_id
        if relay_id is None:
            return None
        return await self.store.read(lambda conn: get_relay(conn, relay_id))
