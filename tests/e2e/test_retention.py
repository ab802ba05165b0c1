"""Retention end to end: old rows are pruned in batches while callbacks keep committing;
the state of tasks and relays is never pruned."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Stack, relay_body, wait_for
from tests.e2e.helpers import declare, metric_value, wait_relay

ACCEPTED = {"status": "accepted"}


def detail(stack: Stack, task_id: str) -> dict[str, Any]:
    response = stack.http.get(f"/api/tasks/aliyun/{task_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_old_rows_are_pruned_and_live_state_is_kept(stack_factory: Callable[..., Stack]) -> None:
    # Two seconds of retention, checked every 0.3 s.
    stack = stack_factory(retention_days=2 / 86400, retention_interval_seconds=0.3)
    ended = wait_relay(stack, declare(stack, relay_body("ended")), "active", state="active")
    live = wait_relay(stack, declare(stack, relay_body("live")), "active", state="active")
    ended_task, live_task = ended["current_task_id"], live["current_task_id"]
    for task_id in (ended_task, live_task):
        assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    time.sleep(1.1)  # distinct provider times: a new event, not a retry
    exit_body = stack.aliyun.set_task_status(ended_task, -1)
    assert stack.callback(ended_task, exit_body).json() == ACCEPTED
    wait_relay(stack, ended["id"], "ended", state="ended")
    quarantined = stack.http.post(
        f"{stack.registered_callback_url()}", json={"Event": "SomethingElse", "TaskId": "q-1"}
    )
    assert quarantined.status_code == 202
    stack.wait_jobs_settled()
    assert stack.jobs()

    wait_for(lambda: not stack.jobs(), timeout=20, what="finished jobs pruned")
    wait_for(
        lambda: not stack.http.get("/api/unrecognized").json()["items"],
        what="quarantine pruned",
    )

    # The ended relay's history is gone but for the event its task's state reflects.
    def pruned() -> dict[str, Any] | None:
        found = detail(stack, ended_task)
        return found if len(found["events"]) == 1 else None

    ended_detail = wait_for(pruned, what="ended relay's events pruned")
    assert ended_detail["status"] == "exited"
    assert ended_detail["events"][0]["id"] == ended_detail["state_event_id"]

    # The live relay keeps its events; only their raw bodies are emptied.
    def emptied() -> list[dict[str, Any]] | None:
        events: list[dict[str, Any]] = detail(stack, live_task)["events"]
        return events if events and all(e["raw"] == "" for e in events) else None

    live_events = wait_for(emptied, what="raw bodies emptied")
    assert [e["status"] for e in live_events] == ["running"]
    assert stack.relay(live["id"])["state"] == "active"
    assert stack.relay(ended["id"])["state"] == "ended"
    for kind in ("events", "unrecognized", "jobs", "raw"):
        assert metric_value(stack, "relaywarden_pruned_rows_total", kind=kind) >= 1, kind

    # Callbacks keep committing while retention runs.
    running_again = stack.aliyun.set_task_status(live_task, 2)
    assert stack.callback(live_task, running_again).json() == ACCEPTED
    assert detail(stack, live_task)["status"] == "recovering"
