"""Provider faults end to end: throttling, 5xx, lost answers, bursts, permanent errors,
missing credentials, giving up, deleting a relay, and TRTC's "already finished"."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from handlers.runner import JobRunner
from tests.e2e.conftest import INGEST_PARAMS, Stack, relay_body, wait_for
from tests.e2e.helpers import (
    declare,
    jobs_of,
    live_tasks,
    metric_value,
    relays,
    task_params,
    wait_relay,
)
from tests.fakes.aliyun_live import DST_URL_CONFLICT_CODE
from tests.fakes.common import ErrorFault

CREATE = "CreateLivePullToPush"
DELETE = "DeleteLivePullToPush"
LIST = "DescribeLivePullToPushList"
ACCEPTED = {"status": "accepted"}


def runner(stack: Stack) -> JobRunner:
    [service] = [s for s in stack.runtime.services if isinstance(s, JobRunner)]
    return service


def outcomes(stack: Stack, action: str) -> list[str]:
    return [c.outcome for c in stack.aliyun.calls_for(action)]


def start_with_ingest(stack: Stack, name: str, **recreate: Any) -> tuple[dict[str, Any], str]:
    """A declared relay whose task runs and whose TRTC ingest was started."""
    body = relay_body(name, trtc_ingest=INGEST_PARAMS)
    body["recreate"].update(recreate)
    relay = wait_relay(stack, declare(stack, body), "relay active", state="active")
    task_id = relay["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    wait_for(lambda: stack.trtc.tasks, what="ingest started")
    stack.wait_jobs_settled()
    [ingest] = stack.trtc.tasks
    return stack.relay(relay["id"]), ingest.task_id


def test_throttling_and_5xx_on_create_are_retried_and_throttling_costs_no_attempt(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory(job_max_attempts=2)
    stack.aliyun.inject(CREATE, "throttle", "5xx", "throttle", "throttle")
    relay = wait_relay(stack, declare(stack, relay_body("throttled")), "created", state="active")
    stack.wait_jobs_settled()  # the relay moves before the job's own outcome commits
    [job] = jobs_of(stack, relay["id"], "create_task")
    assert job["state"] == "succeeded", job
    assert (job["attempts"], job["throttled"]) == (2, 3)
    assert outcomes(stack, CREATE) == [
        "Throttling.User",
        "InternalError",
        "Throttling.User",
        "Throttling.User",
        "ok",
    ]
    assert live_tasks(stack, relay["pull_to_push"]["DstUrl"]) == [relay["current_task_id"]]

    # Control: two server errors use up the two attempts.
    stack.aliyun.inject(CREATE, "5xx", "bad_gateway")
    other = declare(stack, relay_body("out-of-attempts"))
    stack.wait_jobs_settled()
    [job] = jobs_of(stack, other, "create_task")
    assert job["state"] == "dead"
    assert job["attempts"] == 2
    assert job["last_error"].startswith("gave up after 2 attempts")
    failed = stack.relay(other)
    assert failed["state"] == "failed" and "gave up after 2 attempts" in failed["failure_reason"]


def test_faults_on_delete_during_recreate_are_retried_and_counted_once(stack: Stack) -> None:
    relay = wait_relay(stack, declare(stack, relay_body("flaky-delete")), "active", state="active")
    old = relay["current_task_id"]
    stack.aliyun.inject(DELETE, "throttle", "5xx", "acted_but_lost")
    assert stack.callback(old, stack.aliyun.set_task_status(old, 3, "PullStreamFailed")).json() == (
        ACCEPTED
    )
    relay = wait_relay(stack, relay["id"], "re-creation", generation=2)
    stack.wait_jobs_settled()
    [job] = jobs_of(stack, relay["id"], "recreate")
    assert job["state"] == "succeeded"
    assert (job["attempts"], job["throttled"]) == (3, 1)
    # The lost Delete had acted: its retry meets "does not exist", which counts as done.
    assert outcomes(stack, DELETE) == [
        "Throttling.User",
        "InternalError",
        "InternalError",
        "CodeTaskNotExist",
    ]
    assert len(relay["recreate_attempts"]) == 1  # four runs, one attempt
    assert live_tasks(stack, relay["pull_to_push"]["DstUrl"]) == [relay["current_task_id"]]
    assert len(stack.aliyun.calls_for(CREATE)) == 2


@pytest.mark.parametrize("fault", ["acted_but_lost", "acted_but_timeout"])
def test_lost_create_answer_leaves_exactly_one_task(stack: Stack, fault: str) -> None:
    if fault == "acted_but_timeout":
        # Let the client, not the fake, give up: the fake hangs longer than the client waits.
        stack.aliyun.hang_seconds = 30.0
        runner(stack).aliyun._timeout = httpx.Timeout(1.0)
    stack.aliyun.inject(CREATE, fault)
    relay = wait_relay(stack, declare(stack, relay_body(f"lost-{fault}")), "active", state="active")
    dst = relay["pull_to_push"]["DstUrl"]
    creates = stack.aliyun.calls_for(CREATE)
    first = creates[0]
    assert first.acted and first.fault == fault
    assert first.outcome == ("timeout" if fault == "acted_but_timeout" else "InternalError")
    # The retry looked the DstUrl up and took the task the lost Create made: no second one.
    assert [c for c in creates if c.acted] == [first]
    assert dst in [c.params.get("DstUrl") for c in stack.aliyun.calls_for(LIST)]
    assert live_tasks(stack, dst) == [relay["current_task_id"]]
    assert len(stack.aliyun.tasks) == 1
    stack.wait_jobs_settled()
    [job] = jobs_of(stack, relay["id"], "create_task")
    assert (job["state"], job["attempts"]) == ("succeeded", 2)

    # The same during a re-creation: the relay moves to the task the lost Create made.
    old = relay["current_task_id"]
    stack.aliyun.inject(CREATE, fault)
    assert stack.callback(old, stack.aliyun.set_task_status(old, 3, "PushStreamFailed")).json() == (
        ACCEPTED
    )
    relay = wait_relay(stack, relay["id"], "re-creation", generation=2)
    assert live_tasks(stack, dst) == [relay["current_task_id"]]
    assert len(stack.aliyun.tasks) == 2 and stack.aliyun.task(old).deleted
    assert len([c for c in stack.aliyun.calls_for(CREATE) if c.acted]) == 2
    # The relay shows the new task before the job's own outcome is committed: wait for it.
    assert {j["state"] for j in stack.wait_jobs_settled()} == {"succeeded"}
    [job] = jobs_of(stack, relay["id"], "recreate")
    assert (job["state"], job["attempts"]) == ("succeeded", 2)


def test_a_taken_dst_url_is_resolved_by_adopting_the_task_holding_it(stack: Stack) -> None:
    body = relay_body("taken")
    dst = body["pull_to_push"]["DstUrl"]
    params = task_params("taken", stack.registered_callback_url())
    assert params["DstUrl"] == dst
    existing = stack.aliyun.add_task(params)
    relay = wait_relay(stack, declare(stack, body), "active", state="active")
    assert relay["current_task_id"] == existing
    assert outcomes(stack, CREATE) == [DST_URL_CONFLICT_CODE]
    assert [c.params.get("DstUrl") for c in stack.aliyun.calls_for(LIST)] == [dst]
    assert live_tasks(stack, dst) == [existing]
    assert {j["state"] for j in stack.wait_jobs_settled()} == {"succeeded"}


def test_burst_of_30_failures_never_exceeds_the_qps(stack_factory: Callable[..., Stack]) -> None:
    stack = stack_factory(job_concurrency=8)
    ids = [declare(stack, relay_body(f"burst-{n:02d}")) for n in range(30)]

    def all_in(generation: int) -> list[dict[str, Any]] | None:
        found = [r for r in relays(stack) if r["id"] in ids]
        done = all(r["state"] == "active" and r["generation"] == generation for r in found)
        return found if done and len(found) == 30 else None

    created = wait_for(lambda: all_in(1), timeout=30, what="30 relays created")

    def fail(relay: dict[str, Any]) -> int:
        task_id = relay["current_task_id"]
        body = stack.aliyun.set_task_status(task_id, 3, "PullStreamFailed")
        return stack.callback(task_id, body).status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        assert set(pool.map(fail, created)) == {200}
    recreated = wait_for(lambda: all_in(2), timeout=40, what="30 relays re-created")
    jobs = stack.wait_jobs_settled()

    assert stack.aliyun.max_calls_per_window() <= 10
    assert not [c for c in stack.aliyun.calls if c.outcome.startswith("Throttling")]
    assert len(stack.aliyun.calls_for(CREATE)) == 60
    assert len(stack.aliyun.calls_for(DELETE)) == 30
    for relay in recreated:
        assert live_tasks(stack, relay["pull_to_push"]["DstUrl"]) == [relay["current_task_id"]]
    assert {(j["state"], j["throttled"]) for j in jobs} == {("succeeded", 0)}


def test_permanent_error_is_dead_and_the_retry_api_runs_it_again(stack: Stack) -> None:
    stack.aliyun.inject(CREATE, ErrorFault(400, "InvalidParameter.DstUrl", "DstUrl is invalid."))
    relay_id = declare(stack, relay_body("rejected"))
    stack.wait_jobs_settled()
    [job] = jobs_of(stack, relay_id, "create_task")
    assert (job["state"], job["attempts"]) == ("dead", 1)
    assert "InvalidParameter.DstUrl" in job["last_error"]
    assert "DstUrl is invalid." in job["last_error"]
    failed = stack.relay(relay_id)
    assert failed["state"] == "failed" and "InvalidParameter.DstUrl" in failed["failure_reason"]
    assert not stack.aliyun.tasks
    assert [j["id"] for j in stack.jobs("dead")] == [job["id"]]

    retried = stack.http.post(f"/api/jobs/{job['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["id"] == job["id"]
    assert retried.json()["state"] in ("pending", "running", "succeeded")
    relay = wait_relay(stack, relay_id, "created on retry", state="active")
    stack.wait_jobs_settled()
    [job] = jobs_of(stack, relay_id, "create_task")
    assert (job["state"], job["attempts"]) == ("succeeded", 1)
    assert live_tasks(stack, relay["pull_to_push"]["DstUrl"]) == [relay["current_task_id"]]

    again = stack.http.post(f"/api/jobs/{job['id']}/retry")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_dead"
    assert "succeeded" in again.json()["error"]["message"]
    for unknown in ("999999", "not-a-number"):
        response = stack.http.post(f"/api/jobs/{unknown}/retry")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_missing_credentials_dead_letter_clearly_while_callbacks_are_received(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory(credentials=False)
    relay_id = declare(stack, relay_body("no-credentials"))
    task_id = stack.aliyun.add_task(task_params("elsewhere", stack.registered_callback_url()))
    for status, reason in ((1, None), (3, "PullStreamFailed")):
        response = stack.callback(task_id, stack.aliyun.set_task_status(task_id, status, reason))
        assert (response.status_code, response.json()) == (200, ACCEPTED)
    jobs = stack.wait_jobs_settled()
    assert {j["action"] for j in jobs} == {"create_task", "recreate"}
    for job in jobs:
        assert (job["state"], job["attempts"]) == ("dead", 1), job
        assert "RELAYWARDEN_ALIYUN_ACCESS_KEY_ID" in job["last_error"]
    assert not stack.aliyun.calls  # nothing was sent unsigned
    assert stack.relay(relay_id)["state"] == "failed"
    assert stack.http.get("/readyz").status_code == 200

    # Tencent credentials missing alone: the ingest start names its own variables.
    other = stack_factory(
        credentials=False,
        aliyun_access_key_id=stack.aliyun.access_key_id,
        aliyun_access_key_secret=stack.aliyun.access_key_secret,
    )
    relay = wait_relay(
        other,
        declare(other, relay_body("no-tencent", trtc_ingest=INGEST_PARAMS)),
        "created",
        state="active",
    )
    task_id = relay["current_task_id"]
    assert other.callback(task_id, other.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    other.wait_jobs_settled()
    [start] = jobs_of(other, relay["id"], "start_ingest")
    assert start["state"] == "dead"
    assert "RELAYWARDEN_TENCENT_SECRET_ID" in start["last_error"]
    assert not other.trtc.calls


def test_gives_up_after_max_attempts_and_stops_the_ingest(stack: Stack) -> None:
    gave_up = metric_value(stack, "relaywarden_recreations_total", outcome="gave_up")
    created = metric_value(stack, "relaywarden_recreations_total", outcome="created")
    relay, ingest_id = start_with_ingest(stack, "hopeless", max_attempts=2)
    for generation in (2, 3):
        task_id = stack.relay(relay["id"])["current_task_id"]
        offline = stack.aliyun.set_task_status(task_id, 3, "PullStreamFailed")
        assert stack.callback(task_id, offline).json() == ACCEPTED
        wait_relay(stack, relay["id"], f"generation {generation}", generation=generation)
    assert metric_value(stack, "relaywarden_recreations_total", outcome="gave_up") == gave_up

    task_id = stack.relay(relay["id"])["current_task_id"]
    offline = stack.aliyun.set_task_status(task_id, 3, "PullStreamFailed")
    assert stack.callback(task_id, offline).json() == ACCEPTED
    failed = wait_relay(stack, relay["id"], "relay failed", state="failed")
    wait_for(lambda: not stack.trtc.task(ingest_id).in_progress, what="ingest stopped")
    jobs = stack.wait_jobs_settled()
    failed = stack.relay(relay["id"])
    assert "gave up" in failed["failure_reason"]
    assert failed["generation"] == 3 and len(failed["recreate_attempts"]) == 2
    assert [i["state"] for i in failed["ingests"]] == ["stopped"]
    assert len(stack.aliyun.calls_for(CREATE)) == 3  # no fourth task
    assert metric_value(stack, "relaywarden_recreations_total", outcome="gave_up") == gave_up + 1
    assert metric_value(stack, "relaywarden_recreations_total", outcome="created") == created + 2
    assert {j["state"] for j in jobs} == {"succeeded"}


def test_delete_relay_deletes_the_task_and_stops_ingests(stack: Stack) -> None:
    relay, ingest_id = start_with_ingest(stack, "to-delete")
    task_id = relay["current_task_id"]
    response = stack.http.delete(f"/api/relays/{relay['id']}")
    assert response.status_code == 202, response.text
    assert response.json() == {"id": relay["id"], "state": "deleting"}
    deleted = wait_relay(stack, relay["id"], "relay deleted", state="deleted")
    assert stack.aliyun.task(task_id).deleted
    assert not stack.trtc.task(ingest_id).in_progress
    assert [i["state"] for i in deleted["ingests"]] == ["stopped"]
    jobs = stack.wait_jobs_settled()
    assert {j["state"] for j in jobs} == {"succeeded"}

    # The provider's exit callback for the task we deleted, and a second DELETE: no new work.
    exit_body = stack.aliyun.callback_body(task_id)
    assert stack.callback(task_id, exit_body).json() == ACCEPTED
    again = stack.http.delete(f"/api/relays/{relay['id']}")
    assert (again.status_code, again.json()["state"]) == (202, "deleted")
    assert stack.wait_jobs_settled() == jobs
    assert stack.http.delete("/api/relays/no-such-relay").status_code == 404


def test_trtc_stop_answering_task_finished_counts_as_done(stack: Stack) -> None:
    relay, ingest_id = start_with_ingest(stack, "ingest-ended-first")
    stack.trtc.finish_task(ingest_id)  # the ingest ended on its own meanwhile
    task_id = relay["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, -1)).json() == ACCEPTED
    wait_relay(stack, relay["id"], "relay ended", state="ended")
    stack.wait_jobs_settled()
    [stop] = stack.trtc.calls_for("StopStreamIngest")
    assert stop.outcome == "FailedOperation.TaskFinished"
    [job] = jobs_of(stack, relay["id"], "stop_ingest")
    assert (job["state"], job["attempts"]) == ("succeeded", 1)
    assert [i["state"] for i in stack.relay(relay["id"])["ingests"]] == ["stopped"]
