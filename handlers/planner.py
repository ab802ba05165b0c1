"""Rules applied to committed task changes: a pure function from ``PlanInput`` to ``Plan``.

The store calls it inside the callback transaction and writes the plan it returns, so the
planner never sees a connection and never calls a provider; everything slow happens later,
in jobs. It decides follow-up actions only: a relay's own lifecycle (ended when its task
exits, failed when its task cannot be had) is the store's, whatever the rules say.
"""

from __future__ import annotations

import msgspec
import structlog

from handlers.policy import config_from_task_info
from handlers.rules import Rule, matching_actions
from receiver.domain.followups import follow_up_job
from receiver.domain.plan import JobSpec, Plan, PlanInput
from receiver.domain.relay import Relay, missing_config_keys, new_relay_id, parse_provider_time
from receiver.domain.states import (
    EventKind,
    JobAction,
    Provider,
    RelayOrigin,
    RelayState,
    Status,
)

__all__ = ["RulePlanner"]

log = structlog.get_logger("relaywarden.rules")


class RulePlanner:
    """Maps committed task changes to follow-up jobs; adopts tasks nobody declared."""

    def __init__(self, rules: tuple[Rule, ...], *, default_region: str) -> None:
        self.rules = rules
        self.default_region = default_region

    def __call__(self, given: PlanInput) -> Plan:
        event = given.change.event
        if event.provider is not Provider.ALIYUN or not given.change.applied:
            return Plan()
        relay = given.relay if given.linked else self._claim(given)
        if relay is None:
            if event.kind is EventKind.EXIT:
                return Plan()  # nothing to keep alive any more
            return self._adopt(given)
        claimed = None if given.linked else relay
        return Plan(jobs=tuple(self._jobs_for_relay(given, relay)), claimed=claimed)

    def _jobs_for_relay(self, given: PlanInput, relay: Relay) -> list[JobSpec]:
        event = given.change.event
        if not given.change.changed:
            return []
        if given.link is not None and given.link.retired_by_us:
            return []  # the exit of a task relaywarden deleted while re-creating
        if relay.current_task_id != event.task_id or relay.state is not RelayState.ACTIVE:
            return []  # an old generation's task, or a relay no longer kept alive
        return self._apply_rules(given, relay)

    def _claim(self, given: PlanInput) -> Relay | None:
        """A task created by relaywarden whose callback beat the job that records it.

        Its CallbackUrl names the relay; taking it as the relay's current task now keeps it
        from being auto-adopted as a second relay. The job records the same task id later.
        """
        relay = given.relay
        if relay is None or not relay.state.managed:
            return None
        return msgspec.structs.replace(
            relay,
            current_task_id=given.change.event.task_id,
            generation=relay.generation + 1,
            state=RelayState.ACTIVE,
        )

    def _adopt(self, given: PlanInput) -> Plan:
        event = given.change.event
        region = event.context.get("region") or self.default_region
        config = config_from_task_info(event.task_info or {}, region)
        relay = Relay(
            id=new_relay_id(),
            name=config.TaskName or f"adopted-{event.task_id[:12]}",
            state=RelayState.ACTIVE,
            origin=RelayOrigin.CALLBACK,
            region=region,
            pull_to_push=config,
            current_task_id=event.task_id,
            generation=1,
        )
        log.info("relay_adopted", relay_id=relay.id, task_id=event.task_id, region=region)
        jobs: list[JobSpec] = []
        if missing_config_keys(config):
            jobs.append(
                JobSpec(
                    action=JobAction.ADOPT_TASK,
                    relay_id=relay.id,
                    provider=Provider.ALIYUN,
                    task_id=event.task_id,
                    payload={"task_id": event.task_id, "region": region},
                )
            )
        jobs.extend(self._apply_rules(given, relay))
        return Plan(jobs=tuple(jobs), new_relay=relay)

    def _apply_rules(self, given: PlanInput, relay: Relay) -> list[JobSpec]:
        event = given.change.event
        actions = matching_actions(self.rules, event.provider.value, event.status, event.reason)
        return [spec for a in actions if (spec := self._job_for(given, a, relay)) is not None]

    def _job_for(self, given: PlanInput, action: str, relay: Relay) -> JobSpec | None:
        event = given.change.event

        def job(action: JobAction, payload: dict[str, str], delay: float = 0.0) -> JobSpec:
            return JobSpec(action, relay.id, Provider.ALIYUN, event.task_id, payload, delay)

        if action == JobAction.RECREATE:
            policy = relay.recreate
            end = parse_provider_time(relay.pull_to_push.EndTime)
            if policy.too_close_to_end(end, given.now_ms):
                log.info("recreate_skipped_near_end", relay_id=relay.id, task_id=event.task_id)
                return None
            previous = len(policy.recent_attempts(relay.recreate_attempts, given.now_ms))
            payload = {"task_id": event.task_id, "reason": event.reason}
            return job(JobAction.RECREATE, payload, policy.delay_seconds(previous))
        if action == JobAction.STOP_INGEST:
            return job(JobAction.STOP_INGEST, {"reason": event.status.value})
        if action == JobAction.START_INGEST:
            if given.change.previous_status is Status.RUNNING:
                return None
            if relay.trtc_ingest is None and not given.has_ingests:
                return None
            return job(JobAction.START_INGEST, {})
        return follow_up_job(
            relay, action, task_id=event.task_id, previous_status=given.change.previous_status
        )
