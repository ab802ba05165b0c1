"""Rules applied inside the callback transaction: task changes in, outbox jobs out.

Runs in the store's writer thread, so it only reads and writes through the transaction
and never calls a provider. Everything slow happens later, in jobs.
"""

from __future__ import annotations

from typing import Any

import structlog

from handlers.policy import (
    RecreatePolicy,
    config_from_task_info,
    missing_config_keys,
    parse_provider_time,
    recent_attempts,
    recreate_delay_seconds,
)
from handlers.rules import Rule, matching_actions
from receiver.events import EventKind, Provider, Status
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
        relay = tx.find_relay_by_task(event.provider.value, event.task_id) if link else None
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
        rows = tx.query("SELECT * FROM relays WHERE id = ?", (relay_id,))
        if not rows or rows[0]["state"] not in ("pending", "active"):
            return None
        relay = tx.find_relay_by_task("aliyun", change.event.task_id)
        if relay is not None:
            return relay
        generation = int(rows[0]["generation"]) + 1
        tx.query(
            "UPDATE relays SET current_task_id = ?, generation = ?, state = 'active', "
            "updated_at_ms = ? WHERE id = ?",
            (change.event.task_id, generation, tx.now_ms, relay_id),
        )
        tx.query(
            "INSERT OR IGNORE INTO relay_tasks (provider, task_id, relay_id, generation, "
            "created_at_ms) VALUES ('aliyun', ?, ?, ?, ?)",
            (change.event.task_id, relay_id, generation, tx.now_ms),
        )
        return tx.find_relay_by_task("aliyun", change.event.task_id)

    def _adopt(self, tx: Transaction, change: TaskChange) -> list[int]:
        event = change.event
        region = event.context.get("region") or self.default_region
        config = config_from_task_info(event.task_info or {}, region)
        name = str(config.get("TaskName") or f"adopted-{event.task_id[:12]}")
        relay_id = new_relay_id()
        tx.create_relay(
            relay_id=relay_id,
            name=name,
            state="active",
            origin="callback",
            region=region,
            pull_to_push=config,
            trtc_ingest=None,
            recreate=msgspec_to_dict(RecreatePolicy()),
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
        relay = tx.find_relay_by_task("aliyun", event.task_id)
        if relay is not None:
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
                tx.query(
                    "UPDATE relays SET state = 'ended', updated_at_ms = ? WHERE id = ?",
                    (tx.now_ms, relay["id"]),
                )
            return JobSpec(action="stop_ingest", payload={"reason": event.status.value}, **base)
        if action == "start_ingest":
            if change.previous_status is Status.RUNNING:
                return None
            has_links = bool(
                tx.query("SELECT 1 FROM ingests WHERE relay_id = ? LIMIT 1", (relay["id"],))
            )
            if relay["trtc_ingest"] is None and not has_links:
                return None
            return JobSpec(action="start_ingest", payload={}, **base)
        return None


def msgspec_to_dict(policy: RecreatePolicy) -> dict[str, Any]:
    """A policy as the plain dict stored with the relay."""
    return {field: getattr(policy, field) for field in policy.__struct_fields__}
