"""The self-healing methods of the SQL stores (a mixin of ``SqlStore``, both backends).

Regions found for tasks, ingest starts awaiting their TaskId, and the fenced writes of the
actions that heal; the reconciler's and the retention's reads and writes live here too.
"""

from __future__ import annotations

from receiver.domain.plan import IngestUpdate, JobSpec
from receiver.domain.records import IngestLink, ReconcileTarget, RelayTaskLink
from receiver.domain.relay import PullToPushSpec
from receiver.domain.states import IngestState, JobAction, Provider
from receiver.store import healing_queries, ingests, jobs, relays
from receiver.store.base import ClaimedJob
from receiver.store.dialect import Db
from receiver.store.rows import now_ms
from receiver.store.sqlite_jobs import SqliteRelaysAndJobs

__all__ = ["SqlHealing"]


class SqlHealing(SqliteRelaysAndJobs):
    """Regions, awaited ingest ids, and healing writes, over ``write`` and ``read``."""

    # regions -----------------------------------------------------------------------------
    async def task_link(self, task_id: str) -> RelayTaskLink | None:
        """How an Alibaba task belongs to its relay (with its known region), or None."""
        return await self.read(lambda conn: relays.relay_task(conn, Provider.ALIYUN, task_id))

    async def record_task_region(
        self, job: ClaimedJob, relay_id: str, task_id: str, region: str
    ) -> None:
        """Keep the region a task was found in; the relay's own when it is its current task."""

        def run(conn: Db) -> None:
            relays.set_task_region(conn, task_id, region)
            relay = relays.get_relay(conn, relay_id)
            if relay is not None and relay.current_task_id == task_id:
                config = relay.pull_to_push.merged(PullToPushSpec(Region=region))
                relays.update_relay(conn, relay_id, region=region, pull_to_push=config)

        await self._fenced(job, run)

    # ingests -----------------------------------------------------------------------------
    async def get_ingest(self, link_id: int) -> IngestLink | None:
        """One ingest link, or None."""
        return await self.read(lambda conn: ingests.get_ingest(conn, link_id))

    async def begin_ingest_start(
        self, job: ClaimedJob, relay_id: str, sdk_app_id: int
    ) -> int | None:
        """The link of a start about to be sent; None while another relay awaits an id."""

        def run(conn: Db) -> int | None:
            if ingests.awaiting_other(conn, relay_id, sdk_app_id) is not None:
                return None
            return ingests.begin_start(conn, relay_id, sdk_app_id)

        return await self._fenced(job, run)

    async def update_ingest(self, job: ClaimedJob, update: IngestUpdate) -> None:
        """Write a change to an ingest link."""
        await self._fenced(job, lambda conn: ingests.apply_ingest_update(conn, update))

    async def await_ingest_id(
        self, job: ClaimedJob, link_id: int, reason: str, bound_seconds: float
    ) -> None:
        """Mark a start that answered TaskExist; check for its id after ``bound_seconds``."""

        def run(conn: Db) -> None:
            ingests.mark_awaiting(conn, link_id, reason)
            check = JobSpec(
                action=JobAction.AWAIT_INGEST_ID,
                relay_id=job.relay_id,
                payload={"link": link_id},
                delay_seconds=bound_seconds,
            )
            jobs.enqueue_job(conn, check, now=now_ms())

        await self._fenced(job, run)

    async def give_up_ingest_id(self, job: ClaimedJob, link_id: int, reason: str) -> bool:
        """A start still without its TaskId becomes ``ingest_unknown``; False when named."""

        def run(conn: Db) -> bool:
            link = ingests.get_ingest(conn, link_id)
            if (
                link is None
                or link.task_id is not None
                or link.state is not IngestState.AWAITING_ID
            ):
                return False
            update = IngestUpdate(link_id, state=IngestState.UNKNOWN, reason=reason)
            ingests.apply_ingest_update(conn, update)
            return True

        return await self._fenced(job, run)

    # the reconciler ----------------------------------------------------------------------
    async def note_task_region(self, task_id: str, region: str) -> None:
        """Keep the region the reconciler found a task in (its relay's, so nothing moves)."""
        await self.write(lambda conn: relays.set_task_region(conn, task_id, region))

    async def reconcile_targets(self) -> list[ReconcileTarget]:
        """Every active relay with its current task's stored status and region, and ingests."""
        return await self.read(healing_queries.reconcile_targets)

    async def known_task_ids(self, task_ids: list[str]) -> set[str]:
        """Which of these Alibaba task ids some relay knows (any generation)."""
        return await self.read(lambda conn: healing_queries.known_task_ids(conn, task_ids))

    # retention ---------------------------------------------------------------------------
    async def prune(self, older_than_ms: int, *, batch: int) -> dict[str, int]:
        """Delete one batch of old rows of each prunable kind; rows deleted by kind."""
        return await self.write(
            lambda conn: healing_queries.prune_batch(conn, older_than_ms, batch)
        )
