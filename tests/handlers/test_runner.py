"""The job runner and the outbox: backoff, leases and fencing, attempts and throttling.

Store-level tests use the store's job methods, and runner tests drive ``JobRunner`` with
stand-in actions, each on a real SQLite file and on a real PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from handlers.actions import Skip
from handlers.aliyun_client import AliyunLiveClient
from handlers.context import ActionContext
from handlers.outcome import Outcome, ProviderError
from handlers.runner import JobRunner, backoff_seconds
from handlers.trtc_client import TrtcClient
from receiver.domain.states import JobState
from receiver.store.base import JobSpec, LeaseLost, RunResult
from receiver.store.dialect import Db
from receiver.store.jobs import enqueue_job
from receiver.store.rows import now_ms, one
from receiver.store.select import AnyStore, build_store
from receiver.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


# ----- backoff ---------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_stays_within_half_and_all_of_the_ceiling(attempt: int) -> None:
    ceiling = min(300.0, 2.0 * 2 ** (attempt - 1))
    samples = [backoff_seconds(attempt, 2.0) for _ in range(400)]
    assert all(ceiling / 2 <= s <= ceiling for s in samples)
    # Jitter: spread over the range, not one value.
    assert len(set(samples)) > 300
    assert max(samples) - min(samples) > ceiling * 0.3


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    means = [
        statistics.fmean(backoff_seconds(a, 1.0, cap=60.0) for _ in range(300))
        for a in range(1, 10)
    ]
    for earlier, later in itertools.pairwise(means[:7]):  # ceilings 1, 2, 4 … 64, then capped
        assert later > earlier * 1.6
    assert all(m <= 60.0 for m in means)
    assert min(backoff_seconds(9, 1.0, cap=60.0) for _ in range(200)) >= 30.0
    assert backoff_seconds(0, 4.0) <= 4.0  # attempt 0 is treated as the first


# ----- store: claims, leases, fences -----------------------------------------------------


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[AnyStore]:
    opened = build_store(database_url)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.stop()


def _enqueue(spec: JobSpec, now: int) -> Callable[[Db], int]:
    return lambda conn: enqueue_job(conn, spec, now=now)


async def _row(store: AnyStore, job_id: int) -> dict[str, Any] | None:
    """The job's full row, lease and fence included (what the API does not show)."""
    return await store.read(lambda c: one(c.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))))


async def test_an_expired_lease_is_claimed_again_and_the_stale_run_is_fenced_off(
    store: AnyStore,
) -> None:
    t0 = now_ms()
    job_id = await store.write(_enqueue(JobSpec("create_task", relay_id="r1"), t0))

    [first] = await store.claim_due_jobs(limit=5, lease_ms=1000, now=t0)
    assert (first.id, first.fence, first.attempts) == (job_id, 1, 1)
    # While the lease holds, nobody else gets the job.
    held = await store.claim_due_jobs(limit=5, lease_ms=1000, now=t0 + 999)
    assert held == []
    # The worker died: after its lease the job is claimed again, with a higher fence.
    [second] = await store.claim_due_jobs(limit=5, lease_ms=1000, now=t0 + 1001)
    assert (second.id, second.fence, second.attempts) == (job_id, 2, 2)

    # The stale run can neither checkpoint nor finish…
    with pytest.raises(LeaseLost):
        await store.extend_lease(first)
    with pytest.raises(LeaseLost):
        await store.finish_job(first, RunResult(JobState.SUCCEEDED))
    row = await _row(store, job_id)
    assert row is not None and (row["state"], row["fence"]) == ("running", 2)

    # …while the new one can, once; afterwards even its own fence is spent.
    await store.extend_lease(second)
    await store.finish_job(second, RunResult(JobState.SUCCEEDED))
    row = await _row(store, job_id)
    assert row is not None
    assert (row["state"], row["attempts"], row["lease_until_ms"]) == ("succeeded", 2, None)
    with pytest.raises(LeaseLost):
        await store.finish_job(second, RunResult(JobState.DEAD))
    with pytest.raises(LeaseLost):
        await store.finish_job(first, RunResult(JobState.DEAD))


async def test_throttled_finish_gives_the_attempt_back(store: AnyStore) -> None:
    t0 = now_ms()
    job_id = await store.write(_enqueue(JobSpec("recreate", relay_id="r1"), t0))
    for expected_throttled in (1, 2, 3):
        [job] = await store.claim_due_jobs(limit=1, lease_ms=1000)
        await store.finish_job(job, RunResult(JobState.PENDING, throttled=True))
        row = await _row(store, job_id)
        assert row is not None
        assert (row["attempts"], row["throttled"]) == (0, expected_throttled)


async def test_one_running_job_per_relay_and_due_times_respected(store: AnyStore) -> None:
    t0 = now_ms()
    a1 = await store.write(_enqueue(JobSpec("recreate", relay_id="a"), t0))
    a2 = await store.write(_enqueue(JobSpec("start_ingest", relay_id="a"), t0))
    b1 = await store.write(_enqueue(JobSpec("recreate", relay_id="b", delay_seconds=5), t0))
    c1 = await store.write(_enqueue(JobSpec("stop_ingest"), t0))
    claimed = await store.claim_due_jobs(limit=10, lease_ms=1000, now=t0)
    # One job of relay "a" at a time; b1 is not due yet; c1 has no relay to wait for.
    assert sorted(j.id for j in claimed) == sorted([a1, c1])
    assert await store.claim_due_jobs(limit=10, lease_ms=1000, now=t0) == []
    for job in claimed:
        await store.finish_job(job, RunResult(JobState.SUCCEEDED))
    later = await store.claim_due_jobs(limit=10, lease_ms=1000, now=t0 + 5000)
    assert sorted(j.id for j in later) == sorted([a2, b1])


# ----- the runner ------------------------------------------------------------------------


class Scripted:
    """Stand-in actions: each run pops the next behaviour of its job's action."""

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = script
        self.runs: list[tuple[str, int]] = []  # (action, fence)

    def action(self, name: str) -> Callable[[ActionContext], Any]:
        async def run(ctx: ActionContext) -> None:
            self.runs.append((name, ctx.job.fence))
            step = self.script[name].pop(0) if self.script[name] else None
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, asyncio.Event):
                await step.wait()
            await ctx.store.extend_lease(ctx.job)

        return run


def throttled() -> ProviderError:
    return ProviderError("aliyun", "CreateLivePullToPush", Outcome.THROTTLED, "Throttling.User", "")


def retryable() -> ProviderError:
    return ProviderError("aliyun", "CreateLivePullToPush", Outcome.RETRYABLE, "InternalError", "")


def rejected() -> ProviderError:
    return ProviderError(
        "aliyun", "CreateLivePullToPush", Outcome.REJECTED, "InvalidParameter.DstUrl", "bad"
    )


@pytest.fixture
def make_runner(store: AnyStore) -> Iterator[Callable[..., JobRunner]]:
    def build(scripted: Scripted, **options: Any) -> JobRunner:
        options.setdefault("backoff_base", 0.01)
        options.setdefault("poll_interval", 0.02)
        return JobRunner(
            store,
            {name: scripted.action(name) for name in scripted.script},
            aliyun=AliyunLiveClient("http://127.0.0.1:9"),
            trtc=TrtcClient("http://127.0.0.1:9"),
            callback_url=lambda relay_id, region: f"http://cb/{relay_id}?region={region}",
            **options,
        )

    yield build


async def _wait_state(store: AnyStore, job_id: int, *states: str) -> dict[str, Any]:
    for _ in range(500):
        row = await _row(store, job_id)
        if row is not None and row["state"] in states:
            return row
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never reached {states}")


async def _enqueue_now(store: AnyStore, action: str, relay_id: str = "r1") -> int:
    return await store.write(_enqueue(JobSpec(action, relay_id=relay_id), now_ms()))


async def test_runner_outcomes(store: AnyStore, make_runner: Callable[..., JobRunner]) -> None:
    scripted = Scripted(
        {
            "throttled_then_ok": [throttled(), throttled(), throttled()],
            "mixed_then_ok": [throttled(), retryable(), throttled()],
            "always_failing": [retryable(), retryable(), retryable()],
            "rejected": [rejected()],
            "crashing": [RuntimeError("boom"), RuntimeError("boom")],
            "skipped": [Skip("nothing to do")],
        }
    )
    runner = make_runner(scripted, max_attempts=2)
    ids = {name: await _enqueue_now(store, name, relay_id=name) for name in scripted.script}
    unknown = await store.write(_enqueue(JobSpec("no_such_action"), now_ms()))
    await runner.start()
    try:
        rows = {
            name: await _wait_state(store, i, "succeeded", "dead", "skipped")
            for name, i in ids.items()
        }
        unknown_row = await _wait_state(store, unknown, "succeeded", "dead")
    finally:
        await runner.stop()

    def summary(name: str) -> tuple[str, int, int]:
        row = rows[name]
        return row["state"], row["attempts"], row["throttled"]

    # Throttling never uses up attempts: three throttles with max_attempts=2 still succeed.
    assert summary("throttled_then_ok") == ("succeeded", 1, 3)
    assert summary("mixed_then_ok") == ("succeeded", 2, 2)
    assert summary("always_failing") == ("dead", 2, 0)
    assert rows["always_failing"]["last_error"].startswith("gave up after 2 attempts: ")
    assert "InternalError" in rows["always_failing"]["last_error"]
    assert summary("rejected") == ("dead", 1, 0)
    assert "InvalidParameter.DstUrl" in rows["rejected"]["last_error"]
    assert summary("crashing") == ("dead", 2, 0)
    assert "RuntimeError: boom" in rows["crashing"]["last_error"]
    # A job whose relay moved on is "skipped" (with why), not "succeeded".
    assert summary("skipped") == ("skipped", 1, 0)
    assert rows["skipped"]["last_error"] == "skipped: nothing to do"
    assert unknown_row["state"] == "dead" and "no_such_action" in unknown_row["last_error"]
    assert [a for a, _ in scripted.runs].count("throttled_then_ok") == 4


async def test_retries_wait_for_their_backoff(
    store: AnyStore, make_runner: Callable[..., JobRunner]
) -> None:
    scripted = Scripted({"flaky": [retryable(), retryable()]})
    runner = make_runner(scripted, backoff_base=0.2)
    job_id = await _enqueue_now(store, "flaky")
    started = asyncio.get_running_loop().time()
    await runner.start()
    try:
        await _wait_state(store, job_id, "succeeded")
    finally:
        await runner.stop()
    # Delays of at least 0.1 s (half of 0.2) and then 0.2 s (half of 0.4).
    assert asyncio.get_running_loop().time() - started >= 0.3


async def test_a_stuck_run_loses_its_job_to_a_new_claim_after_the_lease(
    store: AnyStore, make_runner: Callable[..., JobRunner]
) -> None:
    stuck = asyncio.Event()
    scripted = Scripted({"work": [stuck]})  # the first run hangs, as a dead worker would
    # The lease renews while a run is alive (handlers.lease), up to max_run_seconds.
    runner = make_runner(scripted, lease_seconds=0.3, max_run_seconds=0.3, concurrency=2)
    job_id = await _enqueue_now(store, "work")
    await runner.start()
    try:
        row = await _wait_state(store, job_id, "succeeded")
        assert scripted.runs == [("work", 1), ("work", 2)]
        assert (row["attempts"], row["fence"]) == (2, 2)
        # The stuck run wakes up: its checkpoint is refused and nothing it does is recorded.
        stuck.set()
        await asyncio.sleep(0.2)
        after = await _row(store, job_id)
        assert after == row
    finally:
        await runner.stop()


# ----- wake-ups: a commit that makes a job pending wakes the runner ------------------------


async def test_an_enqueued_job_runs_without_waiting_for_the_poll(
    store: AnyStore, make_runner: Callable[..., JobRunner]
) -> None:
    scripted = Scripted({"prompt": [], "retried": [retryable()]})
    # An hour between polls: only the store's wake-up can get these jobs claimed in time.
    runner = make_runner(scripted, poll_interval=3600.0, wakeup=store.jobs_enqueued)
    await runner.start()
    try:
        await asyncio.sleep(0.05)  # the runner has polled once (nothing) and now idles
        job_id = await _enqueue_now(store, "prompt")
        await asyncio.wait_for(_wait_state(store, job_id, "succeeded"), timeout=5)
        if not isinstance(store, SqliteStore):
            return  # PostgreSQL wakes on enqueues (NOTIFY); a backed-off retry waits a poll
        # A retry backs off 0.005-0.01 s: its wake-up comes when it is due, not at a poll.
        retried = await _enqueue_now(store, "retried", relay_id="r2")
        row = await asyncio.wait_for(_wait_state(store, retried, "succeeded"), timeout=5)
    finally:
        await runner.stop()
    assert row["attempts"] == 2


async def test_without_the_wake_up_the_job_waits_for_the_poll(
    store: AnyStore, make_runner: Callable[..., JobRunner]
) -> None:
    scripted = Scripted({"prompt": []})
    runner = make_runner(scripted, poll_interval=3600.0)  # no wakeup given
    await runner.start()
    try:
        await asyncio.sleep(0.05)
        job_id = await _enqueue_now(store, "prompt")
        await asyncio.sleep(0.5)
        row = await _row(store, job_id)
    finally:
        await runner.stop()
    assert row is not None and row["state"] == "pending"


async def test_jobs_enqueued_is_set_only_after_the_commit_and_at_the_due_time(
    store: AnyStore,
) -> None:
    if not isinstance(store, SqliteStore):
        pytest.skip("SQLite's writer schedules the wake-up; PostgreSQL's NOTIFY has no due time")
    event = store.jobs_enqueued
    event.clear()
    await store.write(lambda conn: conn.execute("INSERT INTO meta VALUES ('k', 'v')"))
    await asyncio.sleep(0.05)
    assert not event.is_set()  # a write that enqueues nothing wakes nobody
    later = now_ms() + 300
    await store.write(_enqueue(JobSpec("x", relay_id="r", delay_seconds=0.3), later - 300))
    await asyncio.sleep(0.1)
    assert not event.is_set()  # not due yet
    await asyncio.wait_for(event.wait(), timeout=2)
    assert now_ms() >= later - 5
