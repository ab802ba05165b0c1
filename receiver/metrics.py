"""Prometheus metrics of relaywarden.

Names and labels are part of the external contract. Every label
takes values from a bounded set; series are pre-initialised for the known values so that
dashboards and alerts see zeros instead of absent series.
"""

from __future__ import annotations

import enum
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from receiver.domain.adoption import ADOPTION_REFUSALS
from receiver.domain.states import JobAction, Source

__all__ = [
    "CALLBACK_OUTCOMES",
    "CALLBACK_SOURCES",
    "CONNECTION_REFUSALS",
    "FORWARD_OUTCOMES",
    "JOB_ACTIONS",
    "JOB_OUTCOMES",
    "KNOWN_REASONS",
    "PROVIDER_RESULTS",
    "REGISTRY",
    "CallbackSeries",
    "JobOutcome",
    "adoptions_refused_total",
    "callback_duration_seconds",
    "callbacks_total",
    "connections_refused_total",
    "count_transition",
    "forwards_total",
    "ingests_unknown_total",
    "job_duration_seconds",
    "jobs_total",
    "orphan_tasks",
    "provider_request_duration_seconds",
    "provider_requests_total",
    "pruned_rows_total",
    "reason_label",
    "reconcile_events_total",
    "reconcile_sweep_seconds",
    "recreations_total",
    "task_transitions_total",
]

# ``*_created`` series double the exposition for no dashboard use.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

CALLBACK_SOURCES = tuple(s for s in Source if s is not Source.RECONCILER)
CALLBACK_OUTCOMES = (
    "accepted",
    "duplicate",
    "unauthorized",
    "malformed",
    "unrecognized",
    "too_large",
    "unavailable",
)


class JobOutcome(enum.StrEnum):
    """How one job attempt ended (the ``outcome`` label of ``relaywarden_jobs_total``)."""

    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    RETRIED = "retried"
    DEAD = "dead"


JOB_OUTCOMES = tuple(JobOutcome)
PROVIDER_RESULTS = ("ok", "throttled", "retryable", "rejected")
#: The follow-up actions jobs carry (the ``action`` label).
JOB_ACTIONS = tuple(JobAction)

#: Reasons that may appear as a label value; anything else is counted as ``other``.
KNOWN_REASONS = frozenset(
    {
        "",
        "PullStreamFailed",
        "PushStreamFailed",
        "TriggerByUser",
        "UnknownError",
        "RetryTimesOffline",
        "OverEndTime",
        "StartFailed",
        "Restarted",
        "TaskNotExist",
        "NotExist",
    }
)

# Callback handling is dominated by one SQLite group commit: sub-millisecond to a few ms,
# with a tail when the disk syncs.
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Provider calls and jobs cross the Internet: tens of ms to seconds.
_SLOW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

callbacks_total = Counter(
    "relaywarden_callbacks_total",
    "Provider callbacks received, by source and outcome.",
    ("source", "outcome"),
    registry=REGISTRY,
)
callback_duration_seconds = Histogram(
    "relaywarden_callback_duration_seconds",
    "Time from the start of a callback request to its answer (including the durable commit).",
    ("source",),
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
task_transitions_total = Counter(
    "relaywarden_task_transitions_total",
    "Task status changes applied to the state, by provider, new status and reason.",
    ("provider", "status", "reason"),
    registry=REGISTRY,
)
jobs_total = Counter(
    "relaywarden_jobs_total",
    "Follow-up job attempts finished, by action and outcome.",
    ("action", "outcome"),
    registry=REGISTRY,
)
job_duration_seconds = Histogram(
    "relaywarden_job_duration_seconds",
    "Duration of one follow-up job attempt.",
    ("action",),
    buckets=_SLOW_BUCKETS,
    registry=REGISTRY,
)
provider_requests_total = Counter(
    "relaywarden_provider_requests_total",
    "Provider API calls, by provider, API and classified result.",
    ("provider", "api", "result"),
    registry=REGISTRY,
)
provider_request_duration_seconds = Histogram(
    "relaywarden_provider_request_duration_seconds",
    "Duration of one provider API call.",
    ("provider", "api"),
    buckets=_SLOW_BUCKETS,
    registry=REGISTRY,
)
ingests_unknown_total = Counter(
    "relaywarden_ingests_unknown_total",
    "Ingest starts whose TaskId never arrived after TaskExist (may run, cannot be stopped).",
    registry=REGISTRY,
)
reconcile_events_total = Counter(
    "relaywarden_reconcile_events_total",
    "Synthetic events the reconciler fed through the callback path, by provider.",
    ("provider",),
    registry=REGISTRY,
)
reconcile_sweep_seconds = Gauge(
    "relaywarden_reconcile_sweep_seconds",
    "Duration of the last full reconciler sweep (all active relays, within the QPS budget).",
    registry=REGISTRY,
)
adoptions_refused_total = Counter(
    "relaywarden_adoptions_refused_total",
    "Callbacks about unknown tasks stored without adopting them (RELAYWARDEN_ADOPT_*), "
    "by reason (max_relays, per_minute).",
    ("reason",),
    registry=REGISTRY,
)
orphan_tasks = Gauge(
    "relaywarden_orphan_tasks",
    "Provider tasks whose CallbackUrl points at relaywarden but that no relay knows "
    "(the last sweep's; 0 on replicas that do not lead the periodic rounds).",
    registry=REGISTRY,
)
pruned_rows_total = Counter(
    "relaywarden_pruned_rows_total",
    "Rows pruned by retention, by kind (events, unrecognized, jobs, delivered forwards; "
    "raw: bodies emptied).",
    ("kind",),
    registry=REGISTRY,
)
#: What one forward attempt came to: delivered (2xx), retried (failed, tried again later),
#: dead (failed for the last time).
FORWARD_OUTCOMES = ("delivered", "retried", "dead")
forwards_total = Counter(
    "relaywarden_forwards_total",
    "Attempts to forward an accepted callback to RELAYWARDEN_FORWARD_URL, by outcome.",
    ("outcome",),
    registry=REGISTRY,
)
recreations_total = Counter(
    "relaywarden_recreations_total",
    "Relay re-creations, by outcome (created a new task, or gave up).",
    ("outcome",),
    registry=REGISTRY,
)

#: Why the server dropped a connection before the app saw a request (``receiver.server``).
CONNECTION_REFUSALS = ("limit", "evicted", "header_timeout", "body_timeout", "header_too_large")
connections_refused_total = Counter(
    "relaywarden_connections_refused_total",
    "Connections the server closed before a request reached the app, by reason.",
    ("reason",),
    registry=REGISTRY,
)


def reason_label(reason: str | None) -> str:
    """Map a provider reason onto the bounded label set (unknown reasons become ``other``)."""
    value = reason or ""
    return value if value in KNOWN_REASONS else "other"


class CallbackSeries:
    """The callback series of one source, resolved once.

    ``labels()`` takes a lock and builds a key on every call; a callback only adds to
    series resolved here.
    """

    __slots__ = ("duration", "outcomes")

    def __init__(self, source: str) -> None:
        self.outcomes = {
            outcome: callbacks_total.labels(source, outcome) for outcome in CALLBACK_OUTCOMES
        }
        self.duration = callback_duration_seconds.labels(source)

    def done(self, outcome: str, seconds: float) -> None:
        """Count one callback with ``outcome`` that took ``seconds``."""
        self.outcomes[outcome].inc()
        self.duration.observe(seconds)


_TRANSITIONS: dict[tuple[str, str, str], Any] = {}


def count_transition(provider: str, status: str, reason: str | None) -> None:
    """Count one task status change (the series is resolved once per label set)."""
    key = (provider, status, reason_label(reason))
    series = _TRANSITIONS.get(key)
    if series is None:  # bounded: providers x statuses x known reasons
        series = _TRANSITIONS[key] = task_transitions_total.labels(*key)
    series.inc()


def _preinitialise() -> None:
    for source in CALLBACK_SOURCES:
        callback_duration_seconds.labels(source)
        for outcome in CALLBACK_OUTCOMES:
            callbacks_total.labels(source, outcome)
    for reason in CONNECTION_REFUSALS:
        connections_refused_total.labels(reason)
    for outcome in ("created", "gave_up"):
        recreations_total.labels(outcome)
    for outcome in FORWARD_OUTCOMES:
        forwards_total.labels(outcome)
    for provider in ("aliyun", "trtc"):
        reconcile_events_total.labels(provider)
    for kind in ("events", "unrecognized", "jobs", "forwards", "raw"):
        pruned_rows_total.labels(kind)
    for reason in ADOPTION_REFUSALS:
        adoptions_refused_total.labels(reason)
    # increase() cannot see a counter's first step from nothing: start every alerted
    # series at zero so the first dead job after a restart still fires the alert.
    for action in JOB_ACTIONS:
        job_duration_seconds.labels(action)
        for outcome in JOB_OUTCOMES:
            jobs_total.labels(action, outcome)


_preinitialise()
