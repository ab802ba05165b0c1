"""The reconciler end to end: missed callbacks heal through synthetic events, orphans show.

The fakes change state without sending callbacks (a task goes offline or vanishes, an
ingest vanishes); only Describe can tell. The reconciler's events go through the callback
path and are in the task's history with source ``reconciler``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from handlers.reconciler import Reconciler, SweepReport
from tests.e2e.conftest import INGEST_PARAMS, Stack, relay_body, wait_for
from tests.e2e.helpers import declare, live_tasks, metric_value, relays, task_params, wait_relay
from tests.fakes.common import max_in_window

ACCEPTED = {"status": "accepted"}


def reconciler(stack: Stack) -> Reconciler:
    [service] = [s for s in stack.runtime.services if isinstance(s, Reconciler)]
    return service


def history(stack: Stack, provider: str, task_id: str) -> list[dict[str, Any]]:
    response = stack.http.get(f"/api/tasks/{provider}/{quote(task_id, safe='')}")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_silent_offline_and_vanished_tasks_are_replaced(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory(reconcile_interval_seconds=0.3)
    quiet = wait_relay(stack, declare(stack, relay_body("quiet")), "active", state="active")
    gone = wait_relay(stack, declare(stack, relay_body("gone")), "active", state="active")
    quiet_task, gone_task = quiet["current_task_id"], gone["current_task_id"]
    for task_id in (quiet_task, gone_task):
        assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED

    stack.aliyun.set_task_status(quiet_task, 3, "PullStreamFailed")  # no callback sent
    stack.aliyun.remove_task(gone_task)  # vanishes: Describe answers CodeTaskNotExist
    quiet = wait_relay(stack, quiet["id"], "quiet relay re-created", generation=2)
    gone = wait_relay(stack, gone["id"], "vanished relay re-created", generation=2)
    for relay in (quiet, gone):
        assert live_tasks(stack, relay["pull_to_push"]["DstUrl"]) == [relay["current_task_id"]]

    def reconciled(task_id: str) -> list[dict[str, Any]]:
        # A sweep may also have seen the task running before its first callback came.
        found = history(stack, "aliyun", task_id)
        return [e for e in found if e["source"] == "reconciler" and e["status"] != "running"]

    [event] = reconciled(quiet_task)
    assert (event["status"], event["reason"], event["applied"]) == (
        "offline",
        "PullStreamFailed",
        True,
    )
    assert "token" not in event["raw"]  # a summary, not the Describe answer
    [event] = reconciled(gone_task)
    assert (event["status"], event["reason"]) == ("offline", "TaskNotExist")
    assert stack.aliyun.task(quiet_task).deleted
    assert metric_value(stack, "relaywarden_reconcile_events_total", provider="aliyun") >= 2

    # Control: a relay whose task is as stored gets no synthetic event.
    steady = wait_relay(stack, declare(stack, relay_body("steady")), "active", state="active")
    task_id = steady["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    time.sleep(1.0)
    assert not reconciled(task_id)
    assert stack.relay(steady["id"])["generation"] == 1


def test_vanished_ingest_is_started_again(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory(reconcile_interval_seconds=0.3)
    body = relay_body("ingest-vanishes", trtc_ingest=INGEST_PARAMS)
    relay = wait_relay(stack, declare(stack, body), "active", state="active")
    task_id = relay["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    [first] = wait_for(lambda: stack.trtc.tasks, what="ingest started")
    stack.trtc.finish_task(first.task_id)  # no 702 is sent
    links = wait_for(
        lambda: (
            (found := stack.relay(relay["id"])["ingests"])
            and [i["state"] for i in found] == ["stopped", "running"]
            and found
        ),
        what="ingest started again",
    )
    assert stack.trtc.task(links[1]["task_id"]).in_progress
    [event] = [e for e in history(stack, "trtc", first.task_id) if e["source"] == "reconciler"]
    assert (event["kind"], event["status"]) == ("ingest_stop", "stopped")


def test_full_sweep_stays_within_the_qps_budget(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory(reconcile_interval_seconds=0.2, aliyun_qps=10)
    count = 16
    ids = [declare(stack, relay_body(f"fleet-{n}")) for n in range(count)]
    for relay_id in ids:
        wait_relay(stack, relay_id, "active", state="active")
    service = reconciler(stack)

    def swept() -> SweepReport | None:
        last = service.last
        return last if last is not None and last.relays == count else None

    report = wait_for(swept, timeout=30, what="a sweep of every relay")
    # Describes of relays, and the orphan listing, never above the account's 10/s; never
    # throttled; and, being low priority, at most qps - reserve (8) a second.
    assert stack.aliyun.max_calls_per_window() <= 10
    assert not [c for c in stack.aliyun.calls if c.outcome.startswith("Throttling")]
    describes = stack.aliyun.calls_for("DescribeLivePullToPush")
    assert len(describes) >= count
    assert max_in_window([c.time for c in describes]) <= 8
    assert report.seconds >= (count - 8) / 8
    assert metric_value(stack, "relaywarden_reconcile_sweep_seconds") > 0


def test_orphans_are_listed_and_adopted_where_the_rules_say(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory(reconcile_interval_seconds=0.3)
    ours = stack.registered_callback_url()
    adoptable = stack.aliyun.add_task(task_params("made-while-down", ours))
    ghost_url = f"{stack.url}/callbacks/aliyun/pull-to-push?token=x&relay=ghost"
    ghost = stack.aliyun.add_task(task_params("of-a-gone-relay", ghost_url))
    stack.aliyun.add_task(task_params("not-ours", "http://elsewhere.example/cb"))
    finished = stack.aliyun.add_task(task_params("finished-long-ago", ours))
    stack.aliyun.set_task_status(finished, -1)  # exited: not billed, not listed

    def listed() -> list[dict[str, Any]] | None:
        body = stack.http.get("/api/orphans").json()
        return body["items"] if body["swept_at"] else None

    orphans = wait_for(listed, what="an orphan sweep")
    assert {o["task_id"]: o["adopted"] for o in orphans} == {adoptable: True, ghost: False}
    [shown] = [o for o in orphans if o["task_id"] == ghost]
    assert (shown["relay_id"], shown["region"]) == ("ghost", "cn-shanghai")
    adopted = wait_for(
        lambda: [r for r in relays(stack) if r["current_task_id"] == adoptable],
        what="orphan adopted",
    )[0]
    assert adopted["origin"] == "callback"
    assert metric_value(stack, "relaywarden_orphan_tasks") == 1
    # Once adopted it is no orphan: the next sweeps list only the ghost.
    wait_for(
        lambda: [o["task_id"] for o in stack.http.get("/api/orphans").json()["items"]] == [ghost],
        what="adopted orphan gone from the list",
    )


def test_adopted_task_of_unknown_region_vanishing_is_replaced(
    stack_factory: Callable[..., Stack],
) -> None:
    # Adopted from a callback whose CallbackUrl names no region: the first sweep finds the
    # task where it looked and keeps that region; its later "does not exist" is news.
    stack = stack_factory(reconcile_interval_seconds=0.3)
    params = task_params("adopted-then-gone", stack.registered_callback_url())
    task_id = stack.aliyun.add_task(params)
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    relay = wait_for(
        lambda: [r for r in relays(stack) if r["current_task_id"] == task_id], what="adopted"
    )[0]
    wait_for(
        lambda: [t.get("region") for t in stack.relay(relay["id"])["tasks"]] == ["cn-shanghai"],
        what="region kept by the reconciler",
    )
    stack.aliyun.remove_task(task_id)
    relay = wait_relay(stack, relay["id"], "re-created", generation=2)
    assert live_tasks(stack, params["DstUrl"]) == [relay["current_task_id"]]
