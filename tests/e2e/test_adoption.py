"""Adoption: tasks relaywarden did not create become relays, from a callback or the API.

Registering relaywarden's CallbackUrl alone must be enough for re-creation to work
(see docs/design.md); an operator can also take a task over by its TaskId, and link a TRTC
ingest started elsewhere.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import CALLBACK_TOKEN, INGEST_PARAMS, Stack, relay_body, wait_for
from tests.e2e.helpers import (
    declare,
    jobs_of,
    live_tasks,
    relay_of_task,
    relays,
    task_params,
    wait_relay,
)

ACCEPTED = {"status": "accepted"}
CONFIG_KEYS = ("SourceType", "SourceProtocol", "SourceUrls", "DstUrl", "EndTime")


def bare_body(task_id: str, status: int, reason: str | None = None) -> dict[str, Any]:
    """A callback whose TaskInfo carries only the TaskId (the docs promise no more)."""
    body: dict[str, Any] = {
        "Event": "LivePullToPushRunning",
        "EventTime": str(int(time.time())),
        "TaskId": task_id,
        "TaskInfo": {"TaskId": task_id},
        "TaskStatus": status,
    }
    if reason is not None:
        body["TaskInvalidReason"] = reason
    return body


def assert_config(relay: dict[str, Any], params: dict[str, Any]) -> None:
    config = relay["pull_to_push"]
    for key in CONFIG_KEYS:
        assert config[key] == params[key], key
    assert config["Region"] == params["Region"] == relay["region"]
    assert "CallbackUrl" not in config and "CallbackURL" not in config


def test_bare_callback_is_adopted_and_recreated_with_our_callback_url(stack: Stack) -> None:
    params = task_params("bare-adopted", stack.registered_callback_url())
    task_id = stack.aliyun.add_task(params)

    running = stack.aliyun.set_task_status(task_id, 1)
    assert stack.callback(task_id, running).json() == ACCEPTED
    relay = wait_for(lambda: relay_of_task(stack, task_id), what="adopted relay")
    assert relay["origin"] == "callback"
    assert relay["state"] == "active"
    assert (relay["current_task_id"], relay["generation"]) == (task_id, 1)
    assert_config(relay, params)
    stack.wait_jobs_settled()
    assert not stack.aliyun.calls_for("DescribeLivePullToPush")  # TaskInfo was complete
    assert [r["id"] for r in relays(stack)] == [relay["id"]]

    offline = stack.aliyun.set_task_status(task_id, 3, "PullStreamFailed")
    assert stack.callback(task_id, offline).json() == ACCEPTED
    relay = wait_relay(stack, relay["id"], "re-creation", generation=2)
    new_id = relay["current_task_id"]
    assert new_id != task_id
    assert stack.aliyun.task(task_id).deleted
    assert live_tasks(stack, params["DstUrl"]) == [new_id]
    new = stack.aliyun.task(new_id)
    for key in ("SourceUrls", "DstUrl", "EndTime", "SourceProtocol"):
        assert new.info[key] == params[key], key
    # The new task reports to relaywarden's per-relay route, not to the operator's URL.
    assert new.callback_url.startswith(f"{stack.url}/callbacks/aliyun/pull-to-push?")
    assert f"relay={relay['id']}" in new.callback_url
    assert "region=cn-shanghai" in new.callback_url
    assert f"token={CALLBACK_TOKEN}" not in new.callback_url

    # Its callbacks belong to the same relay: nothing is adopted a second time.
    assert stack.callback(new_id, stack.aliyun.set_task_status(new_id, 1)).json() == ACCEPTED
    jobs = stack.wait_jobs_settled()
    assert len(relays(stack)) == 1
    assert {j["state"] for j in jobs} == {"succeeded"}
    assert stack.relay(relay["id"])["state"] == "active"


def test_incomplete_task_info_is_read_with_describe(stack: Stack) -> None:
    params = task_params("incomplete-info", stack.registered_callback_url())
    task_id = stack.aliyun.add_task(params)

    assert stack.callback(task_id, bare_body(task_id, 1)).json() == ACCEPTED
    relay = wait_for(lambda: relay_of_task(stack, task_id), what="adopted relay")
    assert relay["origin"] == "callback"
    stack.wait_jobs_settled()
    [adopt] = jobs_of(stack, relay["id"], "adopt_task")
    assert adopt["state"] == "succeeded", adopt
    [describe] = stack.aliyun.calls_for("DescribeLivePullToPush")
    assert (describe.params["Region"], describe.params["TaskId"]) == ("cn-shanghai", task_id)
    relay = stack.relay(relay["id"])
    assert_config(relay, params)

    # The configuration read back is enough to re-create the task.
    assert stack.callback(task_id, bare_body(task_id, 3, "RetryTimesOffline")).json() == ACCEPTED
    relay = wait_relay(stack, relay["id"], "re-creation", generation=2)
    new = stack.aliyun.task(relay["current_task_id"])
    assert (new.info["DstUrl"], new.info["SourceUrls"]) == (params["DstUrl"], params["SourceUrls"])
    assert live_tasks(stack, params["DstUrl"]) == [new.task_id]
    assert {j["state"] for j in stack.wait_jobs_settled()} == {"succeeded"}


def test_first_callback_offline_with_incomplete_info_while_describe_is_throttled(
    stack: Stack,
) -> None:
    # The re-creation may run before the adoption's Describe (throttled here): it must not
    # delete the only task the configuration can be read from.
    params = task_params("offline-first", stack.registered_callback_url())
    task_id = stack.aliyun.add_task(params)
    stack.aliyun.set_task_status(task_id, 3, "PullStreamFailed")
    stack.aliyun.inject("DescribeLivePullToPush", "throttle")
    body = bare_body(task_id, 3, "PullStreamFailed")
    assert stack.callback(task_id, body).json() == ACCEPTED
    adopted = wait_for(lambda: relay_of_task(stack, task_id), what="adopted relay")
    relay = wait_relay(stack, adopted["id"], "re-creation", generation=2)
    jobs = stack.wait_jobs_settled()
    assert {j["state"] for j in jobs} == {"succeeded"}, jobs
    assert stack.aliyun.task(task_id).deleted
    assert live_tasks(stack, params["DstUrl"]) == [relay["current_task_id"]]
    new = stack.aliyun.task(relay["current_task_id"])
    assert (new.info["SourceUrls"], new.info["EndTime"]) == (
        params["SourceUrls"],
        params["EndTime"],
    )
    assert_config(stack.relay(adopted["id"]), params)


def test_region_comes_from_the_callback_url_else_the_setting(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory(aliyun_region="cn-shenzhen")
    registered = stack.registered_callback_url()
    plain = stack.aliyun.add_task(task_params("in-shenzhen", registered, region="cn-shenzhen"))
    tagged = stack.aliyun.add_task(
        task_params("in-beijing", f"{registered}&region=cn-beijing", region="cn-beijing")
    )
    for task_id in (plain, tagged):
        assert stack.callback(task_id, bare_body(task_id, 1)).json() == ACCEPTED
    by_task = {
        task_id: wait_for(functools.partial(relay_of_task, stack, task_id), what="adoption")
        for task_id in (plain, tagged)
    }
    assert by_task[plain]["region"] == "cn-shenzhen"
    assert by_task[tagged]["region"] == "cn-beijing"
    # The fake only finds a task in its own region: a wrong Region makes Describe fail.
    jobs = stack.wait_jobs_settled()
    assert {j["state"] for j in jobs} == {"succeeded"}, jobs
    described = {
        c.params["TaskId"]: c.params["Region"]
        for c in stack.aliyun.calls_for("DescribeLivePullToPush")
    }
    assert described == {plain: "cn-shenzhen", tagged: "cn-beijing"}

    assert stack.callback(tagged, bare_body(tagged, 3, "PushStreamFailed")).json() == ACCEPTED
    relay = wait_relay(stack, by_task[tagged]["id"], "re-creation", generation=2)
    new = stack.aliyun.task(relay["current_task_id"])
    assert new.region == "cn-beijing"
    assert "region=cn-beijing" in new.callback_url
    assert [c.params["Region"] for c in stack.aliyun.calls_for("DeleteLivePullToPush")] == [
        "cn-beijing"
    ]


def test_api_adopt_takes_over_a_task_and_links_an_existing_ingest(stack: Stack) -> None:
    params = task_params("api-adopted", stack.registered_callback_url())
    task_id = stack.aliyun.add_task(params)
    ingest_id = stack.trtc.add_task(INGEST_PARAMS)

    response = stack.http.post(
        "/api/relays",
        json={
            "name": "taken-over",
            "adopt": {"Region": "cn-shanghai", "TaskId": task_id},
            "trtc_ingest": {"SdkAppId": INGEST_PARAMS["SdkAppId"], "TaskId": ingest_id},
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "pending"
    relay_id = response.json()["id"]
    relay = wait_relay(stack, relay_id, "adoption by API", state="active")
    assert (relay["origin"], relay["current_task_id"], relay["generation"]) == (
        "adopted",
        task_id,
        1,
    )
    assert_config(relay, params)
    assert relay["ingests"] == [
        {
            "sdk_app_id": INGEST_PARAMS["SdkAppId"],
            "task_id": ingest_id,
            "state": "running",
            "owned": False,
        }
    ]
    assert len(stack.aliyun.calls_for("DescribeLivePullToPush")) == 1

    # Running: the linked ingest is checked, and left alone since it is in progress.
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).json() == ACCEPTED
    stack.wait_jobs_settled()
    assert len(stack.trtc.calls_for("DescribeStreamIngest")) == 1
    assert not stack.trtc.calls_for("StartStreamIngest")
    assert [r["id"] for r in relays(stack)] == [relay_id]  # not adopted a second time

    # The task exits for good: the linked ingest is stopped.
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, -1)).json() == ACCEPTED
    wait_for(lambda: not stack.trtc.task(ingest_id).in_progress, what="ingest stopped")
    jobs = stack.wait_jobs_settled()
    [stop] = stack.trtc.calls_for("StopStreamIngest")
    assert stop.params["TaskId"] == ingest_id
    relay = stack.relay(relay_id)
    assert relay["state"] == "ended"
    assert [i["state"] for i in relay["ingests"]] == ["stopped"]
    assert {j["state"] for j in jobs} == {"succeeded"}


def test_api_adopt_of_an_unknown_task_dies_with_the_reason(stack: Stack) -> None:
    relay_id = declare(
        stack, {"name": "ghost", "adopt": {"Region": "cn-shanghai", "TaskId": "no-such-task"}}
    )
    stack.wait_jobs_settled()
    [adopt] = jobs_of(stack, relay_id, "adopt_task")
    assert adopt["state"] == "dead"
    assert "CodeTaskNotExist" in adopt["last_error"]
    # The relay cannot get its task: it fails with the job's reason, whatever the rules say.
    relay = stack.relay(relay_id)
    assert relay["state"] == "failed"
    assert "adopt_task" in relay["failure_reason"] and "CodeTaskNotExist" in relay["failure_reason"]


def test_offline_trigger_by_user_is_left_alone(stack: Stack) -> None:
    declared_id = declare(stack, relay_body("stopped-by-operator"))
    declared = wait_relay(stack, declared_id, "relay active", state="active")
    adopted_task = stack.aliyun.add_task(
        task_params("adopted-then-stopped", stack.registered_callback_url())
    )
    assert stack.callback(adopted_task, stack.aliyun.set_task_status(adopted_task, 1)).json() == (
        ACCEPTED
    )
    adopted = wait_for(lambda: relay_of_task(stack, adopted_task), what="adoption")
    stack.wait_jobs_settled()

    for task_id in (declared["current_task_id"], adopted_task):
        stopped = stack.aliyun.set_task_status(task_id, 3, "TriggerByUser")
        assert stack.callback(task_id, stopped).json() == ACCEPTED
    stack.wait_jobs_settled()
    assert not [j for j in stack.jobs() if j["action"] == "recreate"]
    assert not stack.aliyun.calls_for("DeleteLivePullToPush")
    assert len(stack.aliyun.calls_for("CreateLivePullToPush")) == 1  # the declared relay's
    for relay in (declared, adopted):
        now = stack.relay(relay["id"])
        assert (now["state"], now["generation"]) == ("active", 1)
        assert not stack.aliyun.task(now["current_task_id"]).deleted

    # Control: the same relay's task failing on the provider's side is re-created.
    task_id = declared["current_task_id"]
    failed = stack.aliyun.set_task_status(task_id, 3, "PullStreamFailed")
    assert stack.callback(task_id, failed).json() == ACCEPTED
    wait_relay(stack, declared_id, "re-creation", generation=2)
