"""The whole life of a relay, over real sockets: create → running → ingest started →
offline PullStreamFailed → delete + create → duplicate changes nothing → exit → ingest
stopped."""

from __future__ import annotations

from tests.e2e.conftest import INGEST_PARAMS, Stack, relay_body, wait_for


def live_tasks(stack: Stack, dst_url: str) -> list[str]:
    return [t.task_id for t in stack.aliyun.tasks if t.dst_url == dst_url and not t.deleted]


def test_relay_lifecycle(stack: Stack) -> None:
    body = relay_body(trtc_ingest=INGEST_PARAMS)
    dst = body["pull_to_push"]["DstUrl"]
    created = stack.http.post("/api/relays", json=body)
    assert created.status_code == 202, created.text
    relay_id = created.json()["id"]
    assert "token=***" in created.json()["callback_url"]

    # create_task: one task at the provider with relaywarden's per-relay CallbackUrl.
    relay = wait_for(
        lambda: (r := stack.relay(relay_id))["state"] == "active" and r, what="relay active"
    )
    first = relay["current_task_id"]
    assert live_tasks(stack, dst) == [first]
    assert relay["generation"] == 1
    callback_url = stack.aliyun.task(first).callback_url
    assert callback_url.startswith(stack.url) and f"relay={relay_id}" in callback_url
    assert "secret-user-sig-value" not in stack.http.get(f"/api/relays/{relay_id}").text

    # running → the ingest is started.
    assert stack.callback(first, stack.aliyun.set_task_status(first, 1)).json() == {
        "status": "accepted"
    }
    wait_for(lambda: stack.trtc.tasks, what="ingest started")
    stack.wait_jobs_settled()
    ingest = stack.trtc.tasks[0]
    assert ingest.in_progress and ingest.params["UserSig"] == "secret-user-sig-value"
    assert [i["task_id"] for i in stack.relay(relay_id)["ingests"]] == [ingest.task_id]

    # offline PullStreamFailed → old task deleted, a new one created for the same DstUrl.
    offline = stack.aliyun.set_task_status(first, 3, "PullStreamFailed")
    assert stack.callback(first, offline).json() == {"status": "accepted"}
    relay = wait_for(
        lambda: (r := stack.relay(relay_id))["generation"] == 2 and r, what="re-creation"
    )
    second = relay["current_task_id"]
    assert second != first
    assert stack.aliyun.task(first).deleted
    assert live_tasks(stack, dst) == [second]
    jobs_before = stack.wait_jobs_settled()

    # The provider retries the same callback: a duplicate, nothing new.
    assert stack.callback(first, offline).json() == {"status": "duplicate"}
    assert stack.jobs() == jobs_before

    # The exit of the task relaywarden deleted itself is not the relay's end.
    gone = stack.aliyun.set_task_status(first, -1, "TriggerByUser")
    assert stack.callback(first, gone).status_code == 200
    stack.wait_jobs_settled()
    assert stack.relay(relay_id)["state"] == "active"
    assert not stack.trtc.calls_for("StopStreamIngest")

    # The ingest ended meanwhile: when the new task runs, it is checked and started again.
    stack.trtc.finish_task(ingest.task_id)
    assert stack.callback(second, stack.aliyun.set_task_status(second, 1)).status_code == 200
    wait_for(lambda: len(stack.trtc.tasks) == 2, what="ingest restarted")
    stack.wait_jobs_settled()
    assert len(stack.trtc.calls_for("DescribeStreamIngest")) == 1
    restarted = stack.trtc.tasks[1]

    # The relay's task exits for good → every linked ingest is stopped.
    assert stack.callback(second, stack.aliyun.set_task_status(second, -1)).status_code == 200
    wait_for(lambda: not stack.trtc.task(restarted.task_id).in_progress, what="ingest stopped")
    stack.wait_jobs_settled()
    relay = stack.relay(relay_id)
    assert relay["state"] == "ended"
    assert {i["state"] for i in relay["ingests"]} == {"stopped"}
    assert all(j["state"] == "succeeded" for j in stack.jobs())
    task = stack.http.get(f"/api/tasks/aliyun/{second}").json()
    assert task["status"] == "exited" and task["relay_id"] == relay_id
