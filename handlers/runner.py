"""The job runner: claims due jobs from the outbox, runs their actions, records outcomes.

At-least-once: a job is claimed with a lease and a fencing token, renewed while the action
runs (``handlers.lease``, up to ``max_run_seconds``); a worker that dies
leaves the job to be claimed again when the lease runs out. Retryable failures back off
exponentially with jitter, throttling waits without using up attempts, and a permanent
error or the last attempt makes the job ``dead`` with its reason.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping

import structlog

from handlers.actions import Action, Defer, Skip
from handlers.aliyun_client import AliyunLiveClient
from handlers.artc_client import ArtcClient
from handlers.context import ActionContext, CallbackUrlFactory
from handlers.lease import renewing_lease
from handlers.oss_client import OssClient
from handlers.outcome import Outcome, ProviderError
from handlers.trtc_client import TrtcClient
from receiver import metrics
from receiver.domain.states import JobState
from receiver.metrics import JobOutcome
from receiver.store.base import ClaimedJob, LeaseLost, RunResult, Store, StoreUnavailable
from receiver.store.rows import now_ms

__all__ = ["JobRunner", "backoff_seconds"]

log = structlog.get_logger("relaywarden.jobs")


def backoff_seconds(attempt: int, base: float, cap: float = 300.0) -> float:
    """Exponential backoff with jitter: between half and all of ``base * 2**(attempt-1)``."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return float(ceiling * random.uniform(0.5, 1.0))


class JobRunner:
    """Runs follow-up jobs inside ``relaywarden serve`` (a background service)."""

    name = "job-runner"

    def __init__(
        self,
        store: Store,
        actions: Mapping[str, Action],
        *,
        aliyun: AliyunLiveClient,
        trtc: TrtcClient,
        callback_url: CallbackUrlFactory,
        oss: OssClient | None = None,
        artc: ArtcClient | None = None,
        concurrency: int = 4,
        lease_seconds: float = 120.0,
        max_run_seconds: float | None = None,
        backoff_base: float = 2.0,
        max_attempts: int = 8,
        poll_interval: float = 0.2,
        regions: tuple[str, ...] = (),
        ingest_id_wait_seconds: float = 120.0,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        self.store = store
        self.actions = actions
        self.aliyun = aliyun
        self.trtc = trtc
        self.callback_url = callback_url
        self.oss = oss
        self.artc = artc
        self.concurrency = concurrency
        self.lease_ms = int(lease_seconds * 1000)
        self.max_run_seconds = 10 * lease_seconds if max_run_seconds is None else max_run_seconds
        """How long a running job's lease is renewed (``handlers.lease``)."""
        self.backoff_base = backoff_base
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.regions = regions
        self.ingest_id_wait_seconds = ingest_id_wait_seconds
        self.wakeup = wakeup
        """Set when a job was enqueued (by any replica): claim now, not at the next poll."""
        self._loop_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        """True while the claim loop runs."""
        return self._loop_task is not None and not self._loop_task.done()

    async def start(self) -> None:
        """Start claiming jobs."""
        self._stopping.clear()
        self._loop_task = asyncio.create_task(self._loop(), name="relaywarden-job-runner")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; give running jobs ``grace_seconds``, then cancel them.

        A cancelled job keeps its lease and is claimed again after it (at-least-once).
        """
        self._stopping.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._inflight:
            _, pending = await asyncio.wait(self._inflight, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.aliyun.aclose()
        await self.trtc.aclose()
        for client in (self.oss, self.artc):
            if client is not None:
                await client.aclose()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            if self.wakeup is not None:
                self.wakeup.clear()
            try:
                await self._claim_and_spawn()
            except Exception:  # keep the runner alive through store hiccups
                log.exception("job_claim_failed")
            await self._idle()

    async def _idle(self) -> None:
        """Wait for the poll interval, a stop, or a wake-up, whichever comes first."""
        events = [self._stopping] if self.wakeup is None else [self._stopping, self.wakeup]
        waits = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waits, timeout=self.poll_interval, return_when="FIRST_COMPLETED")
        finally:
            for wait in waits:
                wait.cancel()

    async def _claim_and_spawn(self) -> None:
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return
        claimed = await self.store.claim_due_jobs(limit=free, lease_ms=self.lease_ms)
        for job in claimed:
            task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _run(self, job: ClaimedJob) -> None:
        started = time.perf_counter()
        bound = log.bind(
            job_id=job.id, action=job.action, relay_id=job.relay_id, attempt=job.attempts
        )
        action = self.actions.get(job.action)
        outcome: JobOutcome | None = JobOutcome.SUCCEEDED
        try:
            if action is None:
                await self._finish(job, JobState.DEAD, f"unknown action {job.action!r}")
                outcome = JobOutcome.DEAD
                return
            context = ActionContext(
                job=job,
                store=self.store,
                aliyun=self.aliyun,
                trtc=self.trtc,
                callback_url=self.callback_url,
                regions=self.regions,
                ingest_id_wait_seconds=self.ingest_id_wait_seconds,
                oss=self.oss,
                artc=self.artc,
            )
            try:
                async with renewing_lease(self.store, job, self.max_run_seconds):
                    await action(context)
            except Defer as defer:
                # Waiting its turn is not a failure: no attempt is used up.
                await self._finish(
                    job, JobState.PENDING, f"deferred: {defer}", delay=defer.seconds, throttled=True
                )
                outcome = JobOutcome.RETRIED
                bound.info("job_deferred", reason=str(defer))
                return
            except Skip as skip:
                # Not "succeeded": nothing was done, and the job says why.
                await self._finish(job, JobState.SKIPPED, f"skipped: {skip}")
                outcome = JobOutcome.SKIPPED
                bound.info("job_skipped", reason=str(skip))
                return
            await self._finish(job, JobState.SUCCEEDED, None)
            bound.info("job_succeeded")
        except LeaseLost:
            outcome = None
            bound.warning("job_lease_lost")
        except ProviderError as error:
            outcome = await self._provider_failure(job, error, bound)
        except StoreUnavailable as error:
            outcome = None  # cannot record anything; the lease brings it back
            bound.error("job_store_unavailable", error=str(error))
        except Exception as error:
            bound.exception("job_crashed")
            outcome = await self._retry_or_die(job, f"{type(error).__name__}: {error}", bound)
        finally:
            if outcome is not None:
                metrics.jobs_total.labels(job.action, outcome).inc()
            metrics.job_duration_seconds.labels(job.action).observe(time.perf_counter() - started)

    async def _provider_failure(
        self, job: ClaimedJob, error: ProviderError, bound: structlog.typing.FilteringBoundLogger
    ) -> JobOutcome:
        if error.outcome is Outcome.THROTTLED:
            delay = max(
                error.retry_after or 0.0, backoff_seconds(job.throttled + 1, self.backoff_base)
            )
            await self._finish(job, JobState.PENDING, str(error), delay=delay, throttled=True)
            bound.info("job_throttled", error=str(error), retry_in_s=round(delay, 2))
            return JobOutcome.RETRIED
        if error.outcome is Outcome.RETRYABLE:
            return await self._retry_or_die(job, str(error), bound)
        await self._finish(job, JobState.DEAD, str(error))
        bound.error("job_dead", error=str(error))
        return JobOutcome.DEAD

    async def _retry_or_die(
        self, job: ClaimedJob, reason: str, bound: structlog.typing.FilteringBoundLogger
    ) -> JobOutcome:
        if job.attempts >= self.max_attempts:
            await self._finish(
                job, JobState.DEAD, f"gave up after {job.attempts} attempts: {reason}"
            )
            bound.error("job_dead", error=reason)
            return JobOutcome.DEAD
        delay = backoff_seconds(job.attempts, self.backoff_base)
        await self._finish(job, JobState.PENDING, reason, delay=delay)
        bound.warning("job_retry", error=reason, retry_in_s=round(delay, 2))
        return JobOutcome.RETRIED

    async def _finish(
        self,
        job: ClaimedJob,
        state: JobState,
        error: str | None,
        *,
        delay: float | None = None,
        throttled: bool = False,
    ) -> None:
        due = now_ms() + int(delay * 1000) if delay is not None else None
        await self.store.finish_job(job, RunResult(state, error, due, throttled))
