"""Relays in known states, reached through the real API and real provider callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.e2e.conftest import Stack, relay_body, wait_for
from tests.e2e.helpers import declare, wait_relay

#: One re-creation allowed: the second failure of the same relay makes it ``failed``.
FRAGILE = {
    "max_attempts": 1,
    "within_seconds": 3600,
    "min_remaining_seconds": 60,
    "base_delay_seconds": 0.05,
}


@dataclass(frozen=True)
class Seeded:
    """Ids of the seeded relays: ``running`` (active, task running), ``quiet`` (active, no
    callback yet), ``failed`` (gave up after two PullStreamFailed)."""

    running: str
    quiet: str
    failed: str


def active_relay(stack: Stack, name: str, **extra: Any) -> tuple[str, str]:
    """Declare a relay and wait until its task exists; return (relay id, task id)."""
    relay_id = declare(stack, relay_body(name, **extra))
    relay = wait_relay(stack, relay_id, f"{name} active", state="active")
    return relay_id, str(relay["current_task_id"])


def run_task(stack: Stack, task_id: str) -> None:
    """Deliver the provider's 'running' callback for a task."""
    response = stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1))
    assert response.status_code == 200, response.text


def fail_task(stack: Stack, task_id: str) -> None:
    """Deliver an 'offline, PullStreamFailed' callback for a task."""
    body = stack.aliyun.set_task_status(task_id, 3, "PullStreamFailed")
    response = stack.callback(task_id, body)
    assert response.status_code == 200, response.text


def failed_relay(stack: Stack, name: str) -> str:
    """A relay that failed twice and was given up on."""
    relay_id, first = active_relay(stack, name, recreate=FRAGILE)
    run_task(stack, first)
    fail_task(stack, first)
    second = wait_for(
        lambda: (r := stack.relay(relay_id))["generation"] == 2 and r["current_task_id"],
        what=f"{name} re-created",
    )
    fail_task(stack, str(second))
    wait_relay(stack, relay_id, f"{name} failed", state="failed")
    stack.wait_jobs_settled()
    return relay_id


def seed(stack: Stack) -> Seeded:
    """Three relays: one running, one without callbacks yet, one failed."""
    running, task = active_relay(stack, "alpha-running")
    run_task(stack, task)
    quiet, _ = active_relay(stack, "gamma-quiet")
    failed = failed_relay(stack, "beta-failed")
    stack.wait_jobs_settled()
    return Seeded(running=running, quiet=quiet, failed=failed)
