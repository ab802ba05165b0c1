"""Gauges computed from the store at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from receiver.domain.forwards import ForwardState
from receiver.domain.states import Provider, RelayState, Status
from receiver.metrics import JOB_ACTIONS, REGISTRY
from receiver.store.base import AggregatesElsewhere, Store

__all__ = ["STORE_COLLECTOR", "StoreCollector"]

log = structlog.get_logger("relaywarden.metrics")


class StoreCollector(Collector):
    """``relaywarden_tasks``, ``relaywarden_jobs_pending``, oldest pending job, relays,
    the forward backlog and dead forwards.

    Each scrape runs a few ``GROUP BY`` queries over indexed columns on a read connection.
    Known label values are always exported (as 0) so that absent series mean "no scrape".
    """

    def __init__(self) -> None:
        self._store: Store | None = None

    def bind(self, store: Store | None) -> None:
        """Read from ``store`` from now on (None: export nothing)."""
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._store is None:
            return
        try:
            task_counts = self._store.task_counts()
            pending, oldest_ms = self._store.pending_jobs()
            relay_counts = self._store.relay_counts()
            forward_counts = dict(self._store.forward_counts())
            not_running = self._store.relays_not_running()
            dead_jobs = self._store.dead_jobs()
        except AggregatesElsewhere:  # counted once, by the replica that leads the metrics
            return
        except Exception as exc:  # a failing scrape must not break /metrics
            log.error("metrics_store_read_failed", error=str(exc))
            return
        tasks = GaugeMetricFamily(
            "relaywarden_tasks",
            "Tasks by provider and current status.",
            labels=("provider", "status"),
        )
        seen: dict[tuple[str, str], int] = {
            (provider.value, status.value): 0
            for provider in Provider
            for status in Status.of_provider(provider)
        }
        for provider, status, count in task_counts:
            if status in Status.__members__.values():
                seen[(provider, status)] = count
        for (provider, status), count in sorted(seen.items()):
            tasks.add_metric((provider, status), count)
        yield tasks

        jobs = GaugeMetricFamily(
            "relaywarden_jobs_pending",
            "Follow-up jobs not finished yet (pending or running), by action.",
            labels=("action",),
        )
        by_action = dict.fromkeys(map(str, JOB_ACTIONS), 0)
        for action, count in pending:
            by_action[action] = count
        for action, count in sorted(by_action.items()):
            jobs.add_metric((action,), count)
        yield jobs

        yield GaugeMetricFamily(
            "relaywarden_job_oldest_pending_timestamp_seconds",
            "Creation time of the oldest unfinished job (Unix seconds); 0 when none is pending.",
            value=(oldest_ms / 1000.0) if oldest_ms is not None else 0.0,
        )

        relays = GaugeMetricFamily("relaywarden_relays", "Relays by state.", labels=("state",))
        by_state = dict.fromkeys(map(str, RelayState), 0)
        for state, count in relay_counts:
            by_state[state] = count
        for state, count in sorted(by_state.items()):
            relays.add_metric((state,), count)
        yield relays
        yield GaugeMetricFamily(
            "relaywarden_jobs_dead",
            "Follow-up jobs that failed for the last time and wait for a retry "
            "(relaywarden jobs retry --all-dead).",
            value=dead_jobs,
        )
        yield GaugeMetricFamily(
            "relaywarden_relays_not_running",
            "Relays relaywarden keeps alive (pending or active) whose current task is not "
            "running (no task yet, or one that is idle, recovering, offline or exited).",
            value=not_running,
        )

        yield GaugeMetricFamily(
            "relaywarden_forward_backlog",
            "Accepted callbacks not yet forwarded to RELAYWARDEN_FORWARD_URL (pending or being "
            "sent; dead ones not included).",
            value=forward_counts.get(ForwardState.PENDING, 0)
            + forward_counts.get(ForwardState.SENDING, 0),
        )
        yield GaugeMetricFamily(
            "relaywarden_forwards_dead",
            "Forwards that failed every attempt (GET /api/forwards?state=dead; retry by hand).",
            value=forward_counts.get(ForwardState.DEAD, 0),
        )


#: The one collector registered in ``REGISTRY``; the running app binds its store to it.
STORE_COLLECTOR = StoreCollector()
REGISTRY.register(STORE_COLLECTOR)
