"""Built-in rules for TRTC stream-ingest callbacks (the planner's TRTC half, pure).

TRTC recommends restarting an ingest whose start failed (701 with ``Status`` 1) three
times in a row, and one that stopped (702) while it was still wanted. Both restarts back
off and are bounded by the relay's ``recreate`` policy, counted in ``ingest_restarts``. A
701 whose TaskId no link owns names the start that awaits its id (a TaskExist answer);
when that relay has ended meanwhile, the ingest is stopped at once.
"""

from __future__ import annotations

import structlog

from receiver.domain.plan import IngestUpdate, JobSpec, Plan, PlanInput
from receiver.domain.records import IngestLink
from receiver.domain.relay import Relay
from receiver.domain.states import EventKind, IngestState, JobAction, Provider, RelayState, Status

__all__ = ["START_FAILURES_BEFORE_RESTART", "plan_ingest"]

log = structlog.get_logger("relaywarden.rules")

#: 701 callbacks with Status 1 in a row after which TRTC's advice is to restart.
START_FAILURES_BEFORE_RESTART = 3


def plan_ingest(given: PlanInput) -> Plan:
    """Follow-ups of one committed TRTC stream-ingest event."""
    event = given.change.event
    link, claimed = given.ingest, False
    if link is None and given.claimable is not None and event.kind is EventKind.INGEST_START:
        link, claimed = given.claimable, True
    relay = given.relay
    if link is None or relay is None:
        return Plan()
    if claimed:
        log.info(
            "ingest_id_named", relay_id=relay.id, link_id=link.id, ingest_task_id=event.task_id
        )
    task_id = event.task_id if claimed else None
    if relay.state is not RelayState.ACTIVE:
        # The relay ended while its ingest ran (or while its id was awaited): stop it.
        update = IngestUpdate(link.id, task_id=task_id)
        if event.kind is EventKind.INGEST_STOP or link.state is IngestState.STOPPED:
            stopped = IngestUpdate(link.id, task_id=task_id, state=IngestState.STOPPED)
            return Plan(ingests=(stopped,))
        stop = JobSpec(JobAction.STOP_INGEST, relay.id, Provider.TRTC, event.task_id)
        return Plan(jobs=(stop,), ingests=(update,))
    if event.kind is EventKind.INGEST_STOP:
        return _stopped(given, relay, link)
    if event.status is Status.FAILED:
        return _start_failed(given, relay, link, task_id)
    running = IngestUpdate(link.id, task_id=task_id, state=IngestState.RUNNING, failures=0)
    return Plan(ingests=(running,))


def _stopped(given: PlanInput, relay: Relay, link: IngestLink) -> Plan:
    if link.state is IngestState.STOPPED:
        return Plan()  # relaywarden stopped it itself
    reason = "TRTC stopped the ingest (702) while the relay still runs"
    stopped = IngestUpdate(link.id, state=IngestState.STOPPED, reason=reason)
    if relay.trtc_ingest is None:
        return Plan(ingests=(stopped,))  # linked, started elsewhere: nothing to start it with
    return _restart(given, relay, stopped, JobSpec(JobAction.START_INGEST, relay.id))


def _start_failed(given: PlanInput, relay: Relay, link: IngestLink, task_id: str | None) -> Plan:
    failures = link.failures + 1
    state = IngestState.STARTING if task_id else None
    if failures < START_FAILURES_BEFORE_RESTART or relay.trtc_ingest is None:
        reason = f"start failed {failures} time(s) in a row (701 Status 1)"
        update = IngestUpdate(
            link.id, task_id=task_id, state=state, failures=failures, reason=reason
        )
        return Plan(ingests=(update,))
    reason = f"restarted after {failures} start failures in a row (701 Status 1)"
    update = IngestUpdate(link.id, task_id=task_id, state=state, failures=0, reason=reason)
    job = JobSpec(JobAction.RESTART_INGEST, relay.id, payload={"link": link.id, "reason": reason})
    return _restart(given, relay, update, job)


def _restart(given: PlanInput, relay: Relay, update: IngestUpdate, job: JobSpec) -> Plan:
    """The restart ``job`` with its backoff, or none when the relay's budget is spent."""
    policy = relay.recreate
    recent = policy.recent_attempts(relay.ingest_restarts, given.now_ms)
    if len(recent) >= policy.max_attempts:
        log.warning("ingest_restart_gave_up", relay_id=relay.id, restarts=len(recent))
        gave_up = (
            f"gave up restarting the ingest after {len(recent)} restarts within "
            f"{policy.within_seconds}s"
        )
        return Plan(ingests=(IngestUpdate(update.link_id, reason=gave_up, state=update.state),))
    delayed = JobSpec(
        job.action,
        job.relay_id,
        Provider.TRTC,
        given.change.event.task_id,
        job.payload,
        policy.delay_seconds(len(recent)),
    )
    return Plan(jobs=(delayed,), ingests=(update,), ingest_restart=True)
