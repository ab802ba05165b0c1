"""Rules applied inside the callback transaction: task changes in, outbox jobs out.

Runs in the store's writer thread, so it only reads and writes through the transaction
and never calls a provider. Everything slow happens later, in jobs.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog

from handlers.policy import (
    RecreatePolicy,
    config_from_task_info,
    recent_attempts,
    recreate_delay_seconds,
)
from handlers.rules import Rule, matching_actions
from receiver.events import EventKind, Provider, Status
from receiver.relay_model import missing_config_keys, parse_provider_time
from receiver.store.base import JobSpec, TaskChange, Transaction
from receiver.store.relays import new_relay_id

__all__ = ["RulePlanner"]

log = structlog.get_logger("relaywarden.rules")


class RulePlanner:
    """Maps committed task changes to follow-up jobs; adopts tasks nobody declared."""

    def __init__(self, rules: tuple[Rule, ...], *, default_region: str) -> None:
        self.rules = rules
        self.default_region = default_region

    def __call__(self, tx: Transaction, change: TaskChange) -> list[int]:
        event = change.event
        if event.provider is not Provider.ALIYUN or not change.applied:
            return []
        link = tx.relay_task(event.provider.value, event.task_id)
        relay = tx.get_relay(link["relay_id"]) if link else None
        if relay is None:
            relay = self._relay_from_context(tx, change)
        if relay is None:
            if event.kind is EventKind.EXIT:
                return []  # nothing to keep alive any more
            return self._adopt(tx, change)
        if not change.changed:
            return []
        if link is not None and link["retired_by_us"]:
            return []  # the exit of a task relaywarden deleted while re-creating
        if relay["current_task_id"] != event.task_id or relay["state"] != "active":
            return []  # an old generation's task, or a relay no longer kept alive
        return self._apply_rules(tx, change, relay)

    def _relay_from_context(self, tx: Transaction, change: TaskChange) -> dict[str, Any] | None:
        """A task created by relaywarden whose callback beat the job that records it.

        Its CallbackUrl names the relay; adopting it as the relay's current task now keeps it
        from being auto-adopted as a second relay. The job records the same task id later.
        """
        relay_id = change.event.context.get("relay")
        if not relay_id:
            return None
        relay = tx.get_relay(relay_id)
        if relay is None or relay["state"] not in ("pending", "active"):
            return None
        generation = int(relay["generation"]) + 1
        tx.update_relay(
            relay_id, current_task_id=change.event.task_id, generation=generation, state="active"
        )
        tx.attach_task(relay_id, change.event.task_id, generation=generation)
        return tx.get_relay(relay_id)

    def _adopt(self, tx: Transaction, change: TaskChange) -> list[int]:
        event = change.event
        region = event.context.get("region") or self.default_region
        config = config_from_task_info(event.task_info or {}, region)
        name = str(config.get("TaskName") or f"adopted-{event.task_id[:12]}")
        relay_id = new_relay_id()
        relay = tx.create_relay(
            relay_id=relay_id,
            name=name,
            state="active",
            origin="callback",
            region=region,
            pull_to_push=config,
            trtc_ingest=None,
            recreate=msgspec.structs.asdict(RecreatePolicy()),
            current_task_id=event.task_id,
        )
        log.info("relay_adopted", relay_id=relay_id, task_id=event.task_id, region=region)
        jobs: list[int] = []
        if missing_config_keys(config):
            jobs.append(
                tx.enqueue_job(
                    JobSpec(
                        action="adopt_task",
                        relay_id=relay_id,
                        provider="aliyun",
                        task_id=event.task_id,
                        payload={"task_id": event.task_id, "region": region},
                    ),
                    cause_event_id=change.event_id,
                )
            )
        jobs.extend(self._apply_rules(tx, change, relay))
        return jobs

    def _apply_rules(self, tx: Transaction, change: TaskChange, relay: dict[str, Any]) -> list[int]:
        event = change.event
        jobs: list[int] = []
        for action in matching_actions(
            self.rules, event.provider.value, event.status.value, event.reason
        ):
            spec = self._job_for(tx, action, change, relay)
            if spec is not None:
                jobs.append(tx.enqueue_job(spec, cause_event_id=change.event_id))
        return jobs

    def _job_for(
        self, tx: Transaction, action: str, change: TaskChange, relay: dict[str, Any]
    ) -> JobSpec | None:
        event = change.event
        base = {"relay_id": relay["id"], "provider": "aliyun", "task_id": event.task_id}
        if action == "recreate":
            policy = RecreatePolicy(**relay["recreate"])
            end = parse_provider_time(relay["pull_to_push"].get("EndTime"))
            if end is not None and end.timestamp() * 1000 - tx.now_ms <= (
                policy.min_remaining_seconds * 1000
            ):
                log.info("recreate_skipped_near_end", relay_id=relay["id"], task_id=event.task_id)
                return None
            previous = len(recent_attempts(relay["recreate_attempts"], policy, tx.now_ms))
            return JobSpec(
                action="recreate",
                payload={"task_id": event.task_id, "reason": event.reason},
                delay_seconds=recreate_delay_seconds(previous, policy),
                **base,
            )
        if action == "stop_ingest":
            if event.status is Status.EXITED:
                tx.update_relay(relay["id"], state="ended")
            return JobSpec(action="stop_ingest", payload={"reason": event.status.value}, **base)
        if action == "start_ingest":
            if change.previous_status is Status.RUNNING:
                return None
            if relay["trtc_ingest"] is None and not tx.has_ingests(relay["id"]):
                return None
            return JobSpec(action="start_ingest", payload={}, **base)
        return None
