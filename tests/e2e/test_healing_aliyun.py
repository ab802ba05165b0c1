"""Self-healing against Alibaba: ``CodeConfigAlreadyExists`` and tasks in several regions.

The fake answers as documented: Create refuses a DstUrl a task holds with
``CodeConfigAlreadyExists`` (a deleted task holds it until the deletion has propagated),
and a task exists in one region only (anywhere else: ``CodeTaskNotExist``).
"""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Stack, relay_body, wait_for
from tests.e2e.helpers import (
    declare,
    jobs_of,
    live_tasks,
    relay_of_task,
    task_params,
    wait_relay,
)

CREATE = "CreateLivePullToPush"
DELETE = "DeleteLivePullToPush"
DESCRIBE = "DescribeLivePullToPush"
LIST = "DescribeLivePullToPushList"
ACCEPTED = {"status": "accepted"}


def outcomes(stack: Stack, action: str) -> list[str]:
    return [c.outcome for c in stack.aliyun.calls_for(action)]


def test_config_exists_right_after_delete_is_retried_until_it_propagates(stack: Stack) -> None:
    stack.aliyun.delete_propagation_seconds = 0.6
    relay = wait_relay(stack, declare(stack, relay_body("propagating")), "active", state="active")
    old = relay["current_task_id"]
    offline = stack.aliyun.set_task_status(old, 3, "PullStreamFailed")
    assert stack.callback(old, offline).json() == ACCEPTED
    relay = wait_relay(stack, relay["id"], "re-creation", generation=2)
    stack.wait_jobs_settled()
    creates = outcomes(stack, CREATE)
    assert creates[0] == "ok" and creates[-1] == "ok"
    assert "CodeConfigAlreadyExists" in creates[1:-1]
    # Each refusal (and each re-run, before its Create) looked the DstUrl up and found no
    # live task: transient, retried.
    assert len(stack.aliyun.calls_for(LIST)) == 2 * creates.count("CodeConfigAlreadyExists")
    [job] = jobs_of(stack, relay["id"], "recreate")
    assert job["state"] == "succeeded"
    assert job["attempts"] == creates.count("CodeConfigAlreadyExists") + 1
    assert live_tasks(stack, relay["pull_to_push"]["DstUrl"]) == [relay["current_task_id"]]
    assert stack.aliyun.task(old).deleted

    # Control: without the propagation delay the same re-creation needs one Create.
    stack.aliyun.delete_propagation_seconds = 0.0
    other = wait_relay(stack, declare(stack, relay_body("instant")), "active", state="active")
    before = len(stack.aliyun.calls_for(CREATE))
    task = other["current_task_id"]
    assert stack.callback(task, stack.aliyun.set_task_status(task, 3, "PushStreamFailed")).json()
    wait_relay(stack, other["id"], "re-creation", generation=2)
    assert outcomes(stack, CREATE)[before:] == ["ok"]


def test_persisting_config_exists_adopts_the_task_when_it_is_the_relays(stack: Stack) -> None:
    body = relay_body("already-there")
    params = task_params("already-there", "")  # made by some other tool, same stream
    assert params["DstUrl"] == body["pull_to_push"]["DstUrl"]
    assert params["SourceUrls"] == body["pull_to_push"]["SourceUrls"]
    existing = stack.aliyun.add_task(params)
    relay = wait_relay(stack, declare(stack, body), "adopted on conflict", state="active")
    assert relay["current_task_id"] == existing
    assert outcomes(stack, CREATE) == ["CodeConfigAlreadyExists"]
    [listing] = stack.aliyun.calls_for(LIST)
    assert listing.params["DstUrl"] == params["DstUrl"]
    assert live_tasks(stack, params["DstUrl"]) == [existing]
    [job] = jobs_of(stack, relay["id"], "create_task")
    assert (job["state"], job["attempts"]) == ("succeeded", 1)


def test_persisting_config_exists_of_another_stream_fails_the_relay(stack: Stack) -> None:
    body = relay_body("taken-dst")
    params = task_params("someone-else", "")
    params["DstUrl"] = body["pull_to_push"]["DstUrl"]  # same destination, other source
    other = stack.aliyun.add_task(params)
    relay_id = declare(stack, body)
    stack.wait_jobs_settled()
    [job] = jobs_of(stack, relay_id, "create_task")
    assert (job["state"], job["attempts"]) == ("dead", 1)
    relay = stack.relay(relay_id)
    assert relay["state"] == "failed"
    assert "CodeConfigAlreadyExists" in relay["failure_reason"]
    assert f"the DstUrl is used by task {other}" in relay["failure_reason"]
    assert relay["current_task_id"] is None
    assert live_tasks(stack, params["DstUrl"]) == [other]  # left alone
    assert not stack.aliyun.calls_for(DELETE)


def test_adopted_task_region_is_found_and_recreation_stays_there(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory(aliyun_regions=("cn-shanghai", "cn-beijing"))
    # The CallbackUrl the operator registered names no region; the task is in Beijing.
    params = task_params("north", stack.registered_callback_url(), region="cn-beijing")
    task_id = stack.aliyun.add_task(params)
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    adopted = wait_for(lambda: relay_of_task(stack, task_id), what="adopted relay")
    relay = wait_relay(stack, adopted["id"], "region found", region="cn-beijing")
    assert relay["pull_to_push"]["Region"] == "cn-beijing"
    assert [(t["task_id"], t["region"]) for t in relay["tasks"]] == [(task_id, "cn-beijing")]
    probes = [(c.params["Region"], c.outcome) for c in stack.aliyun.calls_for(DESCRIBE)]
    assert probes == [("cn-shanghai", "CodeTaskNotExist"), ("cn-beijing", "ok")]
    stack.wait_jobs_settled()

    offline = stack.aliyun.set_task_status(task_id, 3, "PullStreamFailed")
    assert stack.callback(task_id, offline).json() == ACCEPTED
    relay = wait_relay(stack, relay["id"], "re-creation", generation=2)
    stack.wait_jobs_settled()
    [delete] = stack.aliyun.calls_for(DELETE)
    assert (delete.params["Region"], delete.outcome) == ("cn-beijing", "ok")
    assert stack.aliyun.task(task_id).deleted  # the old task is gone, not billed beside
    new = stack.aliyun.task(relay["current_task_id"])
    assert new.region == "cn-beijing"
    assert live_tasks(stack, params["DstUrl"]) == [new.task_id]
    assert [t["region"] for t in stack.relay(relay["id"])["tasks"]] == ["cn-beijing"] * 2


def test_task_in_no_configured_region_is_not_replaced_beside_itself(
    stack_factory: Callable[..., Stack],
) -> None:
    # Only Shanghai is configured; the task lives in Shenzhen. Deleting "in Shanghai" would
    # answer CodeTaskNotExist: that must not be read as gone.
    stack = stack_factory()
    params = task_params("south", stack.registered_callback_url(), region="cn-shenzhen")
    task_id = stack.aliyun.add_task(params)
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    relay = wait_for(lambda: relay_of_task(stack, task_id), what="adopted relay")
    offline = stack.aliyun.set_task_status(task_id, 3, "PullStreamFailed")
    assert stack.callback(task_id, offline).json() == ACCEPTED
    stack.wait_jobs_settled()
    [job] = jobs_of(stack, relay["id"], "recreate")
    assert job["state"] == "dead"
    relay = stack.relay(relay["id"])
    assert relay["state"] == "failed"
    assert "RELAYWARDEN_ALIYUN_REGIONS" in relay["failure_reason"]
    assert not stack.aliyun.calls_for(CREATE)
    assert not stack.aliyun.calls_for(DELETE)
    assert not stack.aliyun.task(task_id).deleted
