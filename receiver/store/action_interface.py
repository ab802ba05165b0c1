"""The fenced writes of the store interface: what an action records while it runs a job.

Each takes the ``ClaimedJob`` and checks its fence first, raising ``LeaseLost`` when another
claim has happened since. ``receiver.store.base.Store`` includes it.
"""

from __future__ import annotations

from typing import Protocol

from receiver.domain.records import IngestLink
from receiver.domain.relay import PullToPushSpec, RecreatePolicy
from receiver.domain.states import ChannelState, IngestState, RelayState, TranscodeState
from receiver.store.values import ClaimedJob

__all__ = ["ActionStore"]


class ActionStore(Protocol):
    """An action's reads of linked ingests and its fenced writes."""

    async def ingests_of(self, relay_id: str) -> list[IngestLink]:
        """The TRTC ingests linked to a relay, oldest first."""
        ...

    async def mark_create_sent(self, job: ClaimedJob) -> None:
        """Note in the job that CreateLivePullToPush is about to be sent."""
        ...

    async def record_new_task(self, job: ClaimedJob, relay_id: str, task_id: str) -> int:
        """Make ``task_id`` the relay's current task (pending relays become active)."""
        ...

    async def record_adopted_config(
        self, job: ClaimedJob, relay_id: str, task_id: str, config: PullToPushSpec, *, exited: bool
    ) -> None:
        """Keep a described configuration; a pending relay takes the task (ended if exited)."""
        ...

    async def save_config(self, job: ClaimedJob, relay_id: str, config: PullToPushSpec) -> None:
        """Replace a relay's pull-to-push configuration."""
        ...

    async def start_recreate_attempt(
        self, job: ClaimedJob, relay_id: str, old_task_id: str, policy: RecreatePolicy, now_ms: int
    ) -> bool:
        """Count one re-creation attempt and retire the old task; False when over budget.

        Over budget, the relay fails and a ``stop_ingest`` job is enqueued.
        """
        ...

    async def retire_task(self, job: ClaimedJob, task_id: str) -> None:
        """Mark a task relaywarden itself deletes, so its exit is not the relay's end."""
        ...

    async def set_relay_state(self, job: ClaimedJob, relay_id: str, state: RelayState) -> None:
        """Move a relay to ``state``."""
        ...

    async def set_ingest_state(self, job: ClaimedJob, ingest_id: int, state: IngestState) -> None:
        """Record what became of a linked ingest."""
        ...

    async def add_ingest(
        self, job: ClaimedJob, relay_id: str, sdk_app_id: int, task_id: str
    ) -> int:
        """Link an ingest relaywarden started (running, owned); returns the link id."""
        ...

    async def note_in_job(self, job: ClaimedJob, key: str, value: int | str) -> None:
        """Keep ``payload[key] = value`` in the job, for a re-run of it to read."""
        ...

    async def record_channel(
        self, job: ClaimedJob, relay_id: str, state: ChannelState, play_url: str | None = None
    ) -> None:
        """Record the state relaywarden set the relay's OSS LiveChannel to (and its play URL)."""
        ...

    async def record_transcode(
        self, job: ClaimedJob, relay_id: str, state: TranscodeState, task_id: str | None
    ) -> None:
        """Record the relay's ARTC transcode: its state and TaskId (None keeps the known one)."""
        ...
