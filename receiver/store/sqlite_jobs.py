"""The relay and job methods of the SQL stores (a mixin of ``SqlStore``, both backends).

Every method an action calls while it runs a job takes the ``ClaimedJob`` and checks its
fence in the same transaction as its write, extending the lease.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TypeVar

from receiver.domain.numbers import row_int
from receiver.domain.plan import JobSpec
from receiver.domain.records import IngestLink, JobRecord, RelayRecord
from receiver.domain.relay import PullToPushSpec, RecreatePolicy, Relay, RelaySpec
from receiver.domain.states import (
    ChannelState,
    IngestState,
    JobState,
    RelayState,
    TranscodeState,
)
from receiver.store import jobs, relays, transitions
from receiver.store.base import BadCursor, ClaimedJob, RunResult
from receiver.store.dialect import Db
from receiver.store.rows import now_ms

__all__ = ["SqliteRelaysAndJobs"]

T = TypeVar("T")


def _cursor(raw: str | None) -> tuple[int, str] | None:
    if raw is None:
        return None
    created, sep, relay_id = raw.partition(":")
    created_ms = row_int(created)
    if not sep or created_ms is None:
        raise BadCursor("cursor must be a value returned as next_cursor")
    return created_ms, relay_id


class SqliteRelaysAndJobs(abc.ABC):
    """Relays, jobs and an action's fenced writes, over ``write`` and ``read``."""

    @abc.abstractmethod
    async def write(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` in the next write transaction (``SqliteStore.write``)."""

    @abc.abstractmethod
    async def read(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` on a read connection (``SqliteStore.read``)."""

    async def _fenced(self, job: ClaimedJob, fn: Callable[[Db], T]) -> T:
        def run(conn: Db) -> T:
            jobs.check_fence(conn, job)
            return fn(conn)

        return await self.write(run)

    # relays (API) ------------------------------------------------------------------------
    async def declare_relay(self, relay_id: str, spec: RelaySpec) -> Relay:
        """Insert a declared relay, link its ingest, enqueue its create or adopt job."""
        return await self.write(lambda conn: transitions.declare_relay(conn, relay_id, spec))

    async def list_relays(
        self, *, state: RelayState | None, limit: int, cursor: str | None
    ) -> tuple[list[RelayRecord], str | None]:
        """Relays newest first with their ingests, and the next cursor."""
        after = _cursor(cursor)

        def load(conn: Db) -> tuple[list[RelayRecord], str | None]:
            found = relays.list_relays(conn, state=state, limit=limit, after=after)
            last = found[-1] if len(found) == limit else None
            records = [RelayRecord(relay=r, ingests=relays.ingests_of(conn, r.id)) for r in found]
            return records, (f"{last.created_at_ms}:{last.id}" if last else None)

        return await self.read(load)

    async def get_relay_record(self, relay_id: str) -> RelayRecord | None:
        """A relay with its ingests and every task it had, or None."""

        def load(conn: Db) -> RelayRecord | None:
            relay = relays.get_relay(conn, relay_id)
            if relay is None:
                return None
            return RelayRecord(
                relay=relay,
                ingests=relays.ingests_of(conn, relay_id),
                tasks=relays.tasks_of(conn, relay_id),
            )

        return await self.read(load)

    async def request_relay_delete(self, relay_id: str) -> Relay | None:
        """Mark a relay ``deleting`` and enqueue its ``delete_task`` job (idempotent)."""
        return await self.write(lambda conn: transitions.request_relay_delete(conn, relay_id))

    # jobs --------------------------------------------------------------------------------
    async def list_jobs(
        self, *, state: JobState | None, limit: int, cursor: int | None
    ) -> list[JobRecord]:
        """Jobs newest first, optionally in one state."""
        return await self.read(
            lambda conn: jobs.list_jobs(conn, state=state, limit=limit, cursor=cursor)
        )

    async def get_job(self, job_id: int) -> JobRecord | None:
        """One job, or None."""
        return await self.read(lambda conn: jobs.get_job(conn, job_id))

    async def retry_dead_job(self, job_id: int) -> JobRecord | None:
        """A dead job back to pending, due now, fresh attempts; None when no dead job."""
        return await self.write(lambda conn: jobs.retry_dead_job(conn, job_id))

    async def enqueue_job(self, spec: JobSpec) -> int:
        """Add a pending job to the outbox; returns its id."""
        return await self.write(lambda conn: jobs.enqueue_job(conn, spec, now=now_ms()))

    async def claim_due_jobs(
        self, *, limit: int, lease_ms: int, now: int | None = None
    ) -> list[ClaimedJob]:
        """Claim due jobs (a cheap read first, so an idle poll never takes the writer)."""
        at = now_ms() if now is None else now
        if not await self.read(lambda conn: jobs.has_due_job(conn, at)):
            return []
        return await self.write(
            lambda conn: jobs.claim_due_jobs(conn, limit=limit, lease_ms=lease_ms, now=at)
        )

    async def finish_job(self, job: ClaimedJob, result: RunResult) -> None:
        """Record a run's outcome; a dead create/recreate/adopt job fails its relay."""
        await self.write(lambda conn: jobs.finish_job(conn, job, result))

    async def extend_lease(self, job: ClaimedJob) -> None:
        """Check the fence and extend the lease (raises LeaseLost)."""
        await self.write(lambda conn: jobs.check_fence(conn, job))

    # an action's reads and fenced writes -------------------------------------------------
    async def get_relay(self, relay_id: str) -> Relay | None:
        """One relay, or None."""
        return await self.read(lambda conn: relays.get_relay(conn, relay_id))

    async def ingests_of(self, relay_id: str) -> list[IngestLink]:
        """The TRTC ingests linked to a relay, oldest first."""
        return await self.read(lambda conn: relays.ingests_of(conn, relay_id))

    async def mark_create_sent(self, job: ClaimedJob) -> None:
        """Note in the job that CreateLivePullToPush is about to be sent."""
        await self._fenced(job, lambda conn: jobs.mark_payload(conn, job.id, "create_sent"))

    async def record_new_task(self, job: ClaimedJob, relay_id: str, task_id: str) -> int:
        """Make ``task_id`` the relay's current task (pending relays become active)."""
        return await self._fenced(
            job, lambda conn: transitions.record_new_task(conn, relay_id, task_id)
        )

    async def record_adopted_config(
        self,
        job: ClaimedJob,
        relay_id: str,
        task_id: str,
        config: PullToPushSpec,
        *,
        exited: bool,
    ) -> None:
        """Keep a described configuration; a pending relay takes the task (ended if exited)."""
        await self._fenced(
            job,
            lambda conn: transitions.record_adopted_config(
                conn, relay_id, task_id, config, exited=exited
            ),
        )

    async def save_config(self, job: ClaimedJob, relay_id: str, config: PullToPushSpec) -> None:
        """Replace a relay's pull-to-push configuration."""
        await self._fenced(
            job, lambda conn: relays.update_relay(conn, relay_id, pull_to_push=config)
        )

    async def start_recreate_attempt(
        self,
        job: ClaimedJob,
        relay_id: str,
        old_task_id: str,
        policy: RecreatePolicy,
        now_ms: int,
    ) -> bool:
        """Count one re-creation attempt and retire the old task; False when over budget."""
        return await self._fenced(
            job,
            lambda conn: transitions.start_recreate_attempt(
                conn, job, relay_id, old_task_id, policy, now_ms
            ),
        )

    async def retire_task(self, job: ClaimedJob, task_id: str) -> None:
        """Mark a task relaywarden itself deletes, so its exit is not the relay's end."""
        await self._fenced(job, lambda conn: relays.retire_task(conn, task_id))

    async def set_relay_state(self, job: ClaimedJob, relay_id: str, state: RelayState) -> None:
        """Move a relay to ``state``."""
        await self._fenced(job, lambda conn: relays.update_relay(conn, relay_id, state=state.value))

    async def set_ingest_state(self, job: ClaimedJob, ingest_id: int, state: IngestState) -> None:
        """Record what became of a linked ingest."""
        await self._fenced(job, lambda conn: relays.update_ingest(conn, ingest_id, state))

    async def add_ingest(
        self, job: ClaimedJob, relay_id: str, sdk_app_id: int, task_id: str
    ) -> int:
        """Link an ingest relaywarden started (running, owned); returns the link id."""
        return await self._fenced(
            job,
            lambda conn: relays.add_ingest(
                conn,
                relay_id,
                sdk_app_id=sdk_app_id,
                task_id=task_id,
                state=IngestState.RUNNING,
                owned=True,
            ),
        )

    async def note_in_job(self, job: ClaimedJob, key: str, value: int | str) -> None:
        """Keep ``payload[key] = value`` in the job, for a re-run of it to read."""
        await self._fenced(job, lambda conn: jobs.mark_payload(conn, job.id, key, value))

    async def record_channel(
        self, job: ClaimedJob, relay_id: str, state: ChannelState, play_url: str | None = None
    ) -> None:
        """Record the state relaywarden set the relay's OSS LiveChannel to (and its play URL)."""
        fields: dict[str, object] = {"channel_state": state.value}
        if play_url is not None:
            fields["channel_play_url"] = play_url
        await self._fenced(job, lambda conn: relays.update_relay(conn, relay_id, **fields))

    async def record_transcode(
        self, job: ClaimedJob, relay_id: str, state: TranscodeState, task_id: str | None
    ) -> None:
        """Record the relay's ARTC transcode: its state and TaskId (None keeps the known one)."""
        fields: dict[str, object] = {"transcode_state": state.value}
        if task_id is not None:
            fields["transcode_task_id"] = task_id
        await self._fenced(job, lambda conn: relays.update_relay(conn, relay_id, **fields))
