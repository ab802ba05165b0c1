"""The reconciler: compares what the store believes with what the providers say.

Every ``RELAYWARDEN_RECONCILE_INTERVAL_SECONDS`` it describes each active relay's current
pull-to-push task (in its region) and each of its live TRTC ingests. A difference becomes
a synthetic event (source ``reconciler``) that goes through the callback path, so the
same ordering and rules heal it: a task that went offline, exited or vanished without a
callback, an ingest that vanished. Its calls go through low-priority views of the job
runner's rate limiters, so they never delay a follow-up. Each sweep also lists the tasks
whose CallbackUrl points at this service (``handlers.orphans``).

On a shared PostgreSQL database only the leading replica sweeps (``Store.leads_rounds``),
so the providers see each sweep's calls once, not once per replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from handlers.actions.common import is_code
from handlers.actions.regions import TASK_GONE
from handlers.aliyun_client import AliyunLiveClient
from handlers.orphans import OrphanFinder
from handlers.outcome import ProviderError
from handlers.provider_answers import PullToPushTask
from handlers.synthetic import describe_event, ingest_gone_event
from handlers.trtc_client import TrtcClient
from receiver import metrics
from receiver.domain.records import IngestLink, ReconcileTarget
from receiver.domain.states import IngestState, Status
from receiver.events import Event
from receiver.periodic import PeriodicService
from receiver.store.base import Store

__all__ = ["Reconciler", "SweepReport"]

log = structlog.get_logger("relaywarden.reconciler")


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did."""

    relays: int
    events: int
    seconds: float


class Reconciler(PeriodicService):
    """A background service of ``relaywarden serve`` (disabled with an interval of 0)."""

    name = "reconciler"

    def __init__(
        self,
        store: Store,
        *,
        aliyun: AliyunLiveClient,
        trtc: TrtcClient,
        interval_seconds: float,
        orphans: OrphanFinder | None = None,
    ) -> None:
        self.store = store
        self.aliyun = aliyun
        self.trtc = trtc
        self.orphans = orphans
        self.last: SweepReport | None = None
        super().__init__(interval_seconds, first_at_start=False, leader=store.leads_rounds)

    def follow(self) -> None:
        """Another replica sweeps: its orphan gauge counts them, this one reports none."""
        super().follow()
        if self.orphans is not None:
            self.orphans.board.step_down()

    async def stop(self) -> None:
        """Stop sweeping (a sweep in progress is cancelled) and close the clients."""
        await super().stop()
        await self.aliyun.aclose()
        await self.trtc.aclose()

    async def run_once(self) -> SweepReport:
        """One sweep."""
        return await self.sweep()

    async def sweep(self) -> SweepReport:
        """Compare every active relay once; feed differences through the callback path."""
        started = time.perf_counter()
        targets = await self.store.reconcile_targets()
        events = 0
        for target in targets:
            try:
                events += await self._relay(target)
            except ProviderError as error:  # one relay's trouble does not stop the sweep
                log.warning("reconcile_relay_failed", relay_id=target.relay.id, error=str(error))
        if self.orphans is not None:
            events += await self.orphans.sweep()
        report = SweepReport(len(targets), events, time.perf_counter() - started)
        self.last = report
        metrics.reconcile_sweep_seconds.set(report.seconds)
        log.info("reconciled", relays=report.relays, events=report.events, seconds=report.seconds)
        return report

    async def _relay(self, target: ReconcileTarget) -> int:
        relay = target.relay
        events = 0
        task_id = relay.current_task_id
        if task_id and target.task_status is not Status.EXITED:
            region = target.task_region or relay.region
            try:
                answer: PullToPushTask | None = await self.aliyun.describe_live_pull_to_push(
                    region, task_id
                )
            except ProviderError as error:
                # "Does not exist" means vanished only from the task's known region.
                if not is_code(error, TASK_GONE) or target.task_region is None:
                    raise
                answer = None
            if answer is not None and target.task_region is None:
                # Found where it was looked for: from now on "does not exist" there is news.
                await self.store.note_task_region(task_id, region)
            context = {"relay": relay.id, "region": region}
            event = describe_event(task_id, answer, context)
            if event is not None and _differs(target, event):
                events += await self._feed(event)
        for link in target.ingests:
            events += await self._ingest(link)
        return events

    async def _ingest(self, link: IngestLink) -> int:
        if not link.task_id or link.state not in (IngestState.RUNNING, IngestState.STARTING):
            return 0
        answer = await self.trtc.describe_stream_ingest(link.sdk_app_id, link.task_id)
        if answer.Status != "NotExist":
            return 0
        return await self._feed(ingest_gone_event(link.sdk_app_id, link.task_id))

    async def _feed(self, event: Event) -> int:
        result = await self.store.ingest(event)
        if result.duplicate or result.change is None or not result.change.applied:
            return 0
        metrics.reconcile_events_total.labels(event.provider.value).inc()
        log.info(
            "reconcile_event",
            provider=event.provider.value,
            task_id=event.task_id,
            status=event.status.value,
            reason=event.reason,
            jobs=len(result.job_ids),
        )
        return 1


def _differs(target: ReconcileTarget, event: Event) -> bool:
    """True when Describe's status (and offline reason) is not what the store holds."""
    if target.task_status is None:
        return True
    return target.task_status is not event.status or (
        event.status is Status.OFFLINE and event.reason != target.task_reason
    )
