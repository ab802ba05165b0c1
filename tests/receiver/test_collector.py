"""Scrape-time gauges added for operators, on both backends: relays kept alive whose task is
not running, the forward backlog and dead forwards."""

from __future__ import annotations

import msgspec
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from receiver.collector import StoreCollector
from receiver.domain.forwards import ForwardAttempt, ForwardState
from receiver.domain.states import EventKind, JobState, Status
from receiver.store.base import RunResult
from receiver.store.select import AnyStore
from tests.receiver.test_store_lifecycle import SPEC
from tests.receiver.test_store_sqlite import event, store
from tests.support.database import refresh_aggregates

pytestmark = pytest.mark.anyio
__all__ = ["store"]  # the fixture: both backends


def scrape(store: AnyStore) -> dict[str, float]:
    refresh_aggregates(store)
    registry = CollectorRegistry()
    collector = StoreCollector()
    collector.bind(store)
    registry.register(collector)
    values: dict[str, float] = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.split(" ")
            values[name] = float(value)
    return values


async def test_relays_not_running_follows_the_current_task(store: AnyStore) -> None:
    await store.declare_relay("r1", SPEC)
    await store.declare_relay("r2", msgspec.structs.replace(SPEC, name="other"))
    assert scrape(store)["relaywarden_relays_not_running"] == 2  # no task yet
    jobs = await store.claim_due_jobs(limit=2, lease_ms=60_000)
    for job, relay in zip(jobs, ("r1", "r2"), strict=True):
        await store.record_new_task(job, relay, f"task-{relay}")
    await store.ingest(event("task-r1", Status.RUNNING, 1000))
    await store.ingest(event("task-r2", Status.RUNNING, 1000))
    assert scrape(store)["relaywarden_relays_not_running"] == 0
    await store.ingest(event("task-r2", Status.RECOVERING, 2000))
    assert scrape(store)["relaywarden_relays_not_running"] == 1
    # An ended relay (its task exited) is no longer kept alive: it does not count.
    await store.ingest(event("task-r2", Status.EXITED, 3000, kind=EventKind.EXIT))
    assert scrape(store)["relaywarden_relays_not_running"] == 0


async def test_forward_backlog_and_dead(store: AnyStore) -> None:
    headers = {"content-type": "application/json"}
    for n in range(3):
        forwarded = msgspec.structs.replace(
            event(f"t{n}", Status.RUNNING, n), forward_headers=headers
        )
        await store.ingest(forwarded)
    values = scrape(store)
    assert (values["relaywarden_forward_backlog"], values["relaywarden_forwards_dead"]) == (3, 0)
    [claim, *_] = await store.claim_forwards(limit=3, lease_ms=60_000)
    await store.finish_forward(claim, ForwardAttempt(ForwardState.DEAD, 0, None, "x"))
    values = scrape(store)
    assert (values["relaywarden_forward_backlog"], values["relaywarden_forwards_dead"]) == (2, 1)


async def test_dead_jobs(store: AnyStore) -> None:
    await store.declare_relay("r1", SPEC)
    await store.declare_relay("r2", msgspec.structs.replace(SPEC, name="other"))
    assert scrape(store)["relaywarden_jobs_dead"] == 0
    jobs = await store.claim_due_jobs(limit=10, lease_ms=60_000)
    await store.finish_job(jobs[0], RunResult(JobState.DEAD, "InvalidParameter"))
    assert scrape(store)["relaywarden_jobs_dead"] == 1
    await store.finish_job(jobs[1], RunResult(JobState.DEAD, "InvalidParameter"))
    assert scrape(store)["relaywarden_jobs_dead"] == 2
    await store.retry_dead_jobs(relay_id="r1", action=None, limit=10)
    assert scrape(store)["relaywarden_jobs_dead"] == 1
