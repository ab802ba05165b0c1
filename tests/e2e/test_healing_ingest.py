"""Self-healing of TRTC stream ingests, end to end with signed 701/702 callbacks.

A retried StartStreamIngest answers ``FailedOperation.TaskExist``: the ingest runs, its id
comes from the next unowned 701 (or it is shown as ``ingest_unknown``); a 702 while the
relay runs, or three 701 start failures in a row, restart it with backoff and a cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import INGEST_PARAMS, TRTC_CALLBACK_KEY, Stack, relay_body, wait_for
from tests.e2e.helpers import declare, jobs_of, metric_value, wait_relay

START = "StartStreamIngest"
STOP = "StopStreamIngest"
ACCEPTED = {"status": "accepted"}


def wired(stack: Stack) -> Stack:
    """TRTC's console settings: callbacks to relaywarden, signed with the shared key."""
    stack.trtc.callback_url = f"{stack.url}/callbacks/trtc"
    stack.trtc.callback_key = TRTC_CALLBACK_KEY
    return stack


def running_relay(stack: Stack, name: str, **ingest: Any) -> dict[str, Any]:
    body = relay_body(name, trtc_ingest={**INGEST_PARAMS, **ingest})
    relay = wait_relay(stack, declare(stack, body), "relay active", state="active")
    task_id = relay["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    return relay


def callback(stack: Stack, task_id: str, event_type: int, status: int = 0) -> None:
    time.sleep(0.005)  # distinct EventMsTs: each is a new event, not a provider retry
    response = stack.trtc.send_callback(task_id, event_type, status)
    assert response is not None and response.status_code == 200, response


def ingests(stack: Stack, relay_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = stack.relay(relay_id)["ingests"]
    return found


def restarted(stack: Stack, relay_id: str) -> list[dict[str, Any]] | None:
    """The relay's ingests once the first is stopped and a second runs."""
    found = ingests(stack, relay_id)
    return found if [i["state"] for i in found] == ["stopped", "running"] else None


def test_task_exist_on_a_retried_start_takes_the_id_from_the_next_701(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = wired(stack_factory())
    stack.trtc.inject(START, "acted_but_lost")
    relay = running_relay(stack, "lost-start")
    link = wait_for(
        lambda: [i for i in ingests(stack, relay["id"]) if i["state"] == "awaiting_id"],
        what="start awaiting its id",
    )[0]
    assert link["task_id"] is None and "TaskExist" in link["reason"]
    assert [c.outcome for c in stack.trtc.calls_for(START)] == [
        "BadGateway",
        "FailedOperation.TaskExist",
    ]
    [started] = stack.trtc.tasks
    assert started.in_progress  # billed, and nobody knew its id

    callback(stack, started.task_id, 701)
    [link] = wait_for(
        lambda: [i for i in ingests(stack, relay["id"]) if i["task_id"] == started.task_id],
        what="id named by the 701",
    )
    assert (link["state"], link["owned"]) == ("running", True)
    jobs = stack.wait_jobs_settled()
    assert not [j for j in jobs if j["state"] == "dead"], jobs
    [wait] = jobs_of(stack, relay["id"], "await_ingest_id")
    assert wait["state"] == "skipped"  # its id arrived before the bound

    # The relay ends: the ingest whose id came from the 701 is stopped.
    task_id = relay["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, -1)).json() == ACCEPTED
    wait_for(lambda: not stack.trtc.task(started.task_id).in_progress, what="ingest stopped")
    [stop] = stack.trtc.calls_for(STOP)
    assert stop.params["TaskId"] == started.task_id
    assert [i["state"] for i in ingests(stack, relay["id"])] == ["stopped"]


def test_task_exist_without_a_701_shows_ingest_unknown_and_counts_it(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = wired(stack_factory(ingest_id_wait_seconds=0.5))
    before = metric_value(stack, "relaywarden_ingests_unknown_total")
    stack.trtc.inject(START, "acted_but_lost")
    relay = running_relay(stack, "never-named")
    [link] = wait_for(
        lambda: [i for i in ingests(stack, relay["id"]) if i["state"] == "ingest_unknown"],
        what="ingest_unknown",
    )
    assert link["task_id"] is None
    assert "no 701 callback named the ingest within 0.5s" in link["reason"]
    assert metric_value(stack, "relaywarden_ingests_unknown_total") == before + 1
    jobs = stack.wait_jobs_settled()
    assert not [j for j in jobs if j["state"] == "dead"], jobs
    [wait] = jobs_of(stack, relay["id"], "await_ingest_id")
    assert wait["state"] == "succeeded"


def test_only_one_relay_per_sdk_app_awaits_an_id_the_others_queue(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = wired(stack_factory())
    stack.trtc.inject(START, "acted_but_lost")
    first = running_relay(stack, "first-lost")
    wait_for(
        lambda: [i for i in ingests(stack, first["id"]) if i["state"] == "awaiting_id"],
        what="first awaits its id",
    )
    second = running_relay(stack, "second", RoomId="room-2", UserId="bot-2")
    [job] = wait_for(
        lambda: [
            j
            for j in jobs_of(stack, second["id"], "start_ingest")
            if (j["last_error"] or "").startswith("deferred")
        ],
        what="second start deferred",
    )
    assert job["attempts"] == 0 and job["throttled"] >= 1
    assert len(stack.trtc.calls_for(START)) == 2  # the second relay sent nothing yet

    [first_ingest] = stack.trtc.tasks
    callback(stack, first_ingest.task_id, 701)
    [named] = wait_for(
        lambda: [i for i in ingests(stack, first["id"]) if i["task_id"]], what="first named"
    )
    assert named["task_id"] == first_ingest.task_id
    [second_link] = wait_for(
        lambda: [i for i in ingests(stack, second["id"]) if i["state"] == "running"],
        what="second started",
    )
    assert second_link["task_id"] != first_ingest.task_id
    assert stack.trtc.task(second_link["task_id"]).room_id == "room-2"


def test_702_while_the_relay_runs_restarts_the_ingest_within_its_budget(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = wired(stack_factory())
    relay = running_relay(stack, "stopped-by-trtc")
    [first] = wait_for(lambda: stack.trtc.tasks, what="ingest started")
    stack.wait_jobs_settled()
    stack.trtc.finish_task(first.task_id, notify=True)  # the 702 stop callback
    links = wait_for(
        lambda: restarted(stack, relay["id"]),
        what="restarted ingest",
    )
    assert "702" in links[0]["reason"]
    second = stack.trtc.task(links[1]["task_id"])
    assert second.in_progress and second.task_id != first.task_id
    assert len(stack.relay(relay["id"])["ingest_restarts"]) == 1

    # Control: a 702 for an ingest relaywarden stopped itself starts nothing.
    task_id = relay["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, -1)).json() == ACCEPTED
    wait_for(lambda: not second.in_progress, what="stopped with the relay")
    stack.wait_jobs_settled()
    callback(stack, second.task_id, 702)
    stack.wait_jobs_settled()
    assert len(stack.trtc.calls_for(START)) == 2


def test_three_start_failures_in_a_row_restart_and_the_cap_holds(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = wired(stack_factory())
    body = relay_body("failing-source", trtc_ingest=INGEST_PARAMS)
    body["recreate"]["max_attempts"] = 1
    relay = wait_relay(stack, declare(stack, body), "relay active", state="active")
    task_id = relay["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    [first] = wait_for(lambda: stack.trtc.tasks, what="ingest started")
    stack.wait_jobs_settled()

    callback(stack, first.task_id, 701, status=1)
    callback(stack, first.task_id, 701, status=1)
    stack.wait_jobs_settled()
    [link] = ingests(stack, relay["id"])
    assert (link["state"], link["reason"]) == (
        "running",
        "start failed 2 time(s) in a row (701 Status 1)",
    )
    assert not stack.trtc.calls_for(STOP)

    callback(stack, first.task_id, 701, status=1)
    links = wait_for(
        lambda: restarted(stack, relay["id"]),
        what="restart after three failures",
    )
    stack.wait_jobs_settled()
    [stop] = stack.trtc.calls_for(STOP)
    assert stop.params["TaskId"] == first.task_id
    assert "after 3 start failures" in links[0]["reason"]
    [restart] = jobs_of(stack, relay["id"], "restart_ingest")
    assert restart["state"] == "succeeded"

    # The budget (max_attempts=1 within the hour) is spent: the next failure run gives up.
    second = links[1]["task_id"]
    for _ in range(3):
        callback(stack, second, 701, status=1)
    stack.wait_jobs_settled()
    final = ingests(stack, relay["id"])
    assert final[1]["reason"].startswith("gave up restarting the ingest after 1 restarts")
    assert len(stack.trtc.calls_for(START)) == 2


def test_an_ingest_named_after_its_relay_ended_is_stopped(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = wired(stack_factory())
    stack.trtc.inject(START, "acted_but_lost")
    relay = running_relay(stack, "ended-while-awaiting")
    wait_for(
        lambda: [i for i in ingests(stack, relay["id"]) if i["state"] == "awaiting_id"],
        what="start awaiting its id",
    )
    task_id = relay["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, -1)).json() == ACCEPTED
    wait_relay(stack, relay["id"], "relay ended", state="ended")
    wait_for(
        lambda: [j for j in jobs_of(stack, relay["id"], "stop_ingest") if j["state"] != "pending"],
        what="the end's stop job",
    )
    assert not stack.trtc.calls_for(STOP)  # nothing to stop by id yet
    [started] = stack.trtc.tasks
    assert started.in_progress

    callback(stack, started.task_id, 701)  # the id arrives after the end
    wait_for(lambda: not stack.trtc.task(started.task_id).in_progress, what="stopped")
    [stop] = stack.trtc.calls_for(STOP)
    assert stop.params["TaskId"] == started.task_id
    [link] = wait_for(
        lambda: [i for i in ingests(stack, relay["id"]) if i["state"] == "stopped"],
        what="link stopped",
    )
    assert link["task_id"] == started.task_id
