"""Cross-relay authority over a real server and the fake provider, on both backends: relay
A's own CallbackUrl can neither end relay B nor make an unlinked task A's."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Stack
from tests.receiver.helpers import assert_error_shape
from tests.support.seeding import active_relay, run_task


def _task_count(stack: Stack, task_id: str) -> int:
    response = stack.http.get(f"/api/tasks/aliyun/{task_id}")
    return 0 if response.status_code == 404 else len(response.json()["events"])


def test_relay_a_url_cannot_end_relay_b_or_claim_an_unlinked_task(
    stack_factory: Callable[..., Stack], database_url: str
) -> None:
    stack = stack_factory(database_url=database_url)
    relay_a, task_a = active_relay(stack, "cross-a")
    relay_b, task_b = active_relay(stack, "cross-b")
    run_task(stack, task_b)
    stack.wait_jobs_settled()
    url_a = stack.aliyun.task(task_a).callback_url
    assert f"relay={relay_a}" in url_a and "token=" in url_a
    events_b = _task_count(stack, task_b)
    jobs_before = len(stack.jobs())

    # Relay B's task exits, reported through relay A's URL: refused, nothing stored.
    exit_b = stack.aliyun.set_task_status(task_b, -1, "OverEndTime")
    response = stack.aliyun.post_callback(task_b, exit_b, url=url_a)
    assert_error_shape(response, 401, "unauthorized")
    assert stack.relay(relay_b)["state"] == "active"
    assert _task_count(stack, task_b) == events_b

    # A task no relay knows, through relay A's URL: no event, no adoption, no quarantine.
    unlinked: dict[str, Any] = {
        "Event": "LivePullToPushRunning",
        "EventTime": str(int(time.time())),
        "TaskId": "task-nobody-owns",
        "TaskInfo": {"TaskId": "task-nobody-owns"},
        "TaskStatus": 1,
    }
    relays_before = len(stack.http.get("/api/relays").json()["items"])
    response = stack.aliyun.post_callback(task_a, unlinked, url=url_a)
    assert_error_shape(response, 401, "unauthorized")
    assert _task_count(stack, "task-nobody-owns") == 0
    assert len(stack.http.get("/api/relays").json()["items"]) == relays_before
    assert stack.http.get("/api/unrecognized").json()["items"] == []
    assert len(stack.jobs()) == jobs_before

    # Relay A's own task through its own URL is accepted; the main token keeps full authority.
    response = stack.aliyun.post_callback(task_a, stack.aliyun.set_task_status(task_a, 1))
    assert response.status_code == 200, response.text
    main = f"{stack.registered_callback_url()}&relay={relay_a}"
    response = stack.aliyun.post_callback(task_b, exit_b, url=main)
    assert response.status_code == 200, response.text
    # The planner and lifecycle act on the task's real relay: B ends, A stays.
    assert stack.relay(relay_b)["state"] == "ended"
    assert stack.relay(relay_a)["state"] == "active"
