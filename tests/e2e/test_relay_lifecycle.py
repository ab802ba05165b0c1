"""The whole life of a relay, over real sockets: create → running → ingest started →
offline PullStreamFailed → delete + create → duplicate changes nothing → exit → ingest
stopped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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


#: A rules file with follow-ups for offline tasks only: nothing acts on an exit.
NO_EXIT_RULE = """
[[rules]]
name = "recreate-when-provider-gave-up"
provider = "aliyun"
status = "offline"
reasons = ["PullStreamFailed"]
action = "recreate"
"""


def test_a_relay_ends_when_its_task_exits_with_no_exit_rule(
    stack_factory: Callable[..., Stack], tmp_path: Path, database_url: str
) -> None:
    """The relay lifecycle does not depend on the rules: on both backends (SQLite's batched
    callback path, PostgreSQL's per-event one) the exit of its task ends the relay."""
    rules = tmp_path / "rules.toml"
    rules.write_text(NO_EXIT_RULE, encoding="utf-8")
    stack = stack_factory(rules_file=str(rules), database_url=database_url)
    created = stack.http.post("/api/relays", json=relay_body())
    assert created.status_code == 202, created.text
    relay_id = created.json()["id"]
    relay = wait_for(
        lambda: (r := stack.relay(relay_id))["state"] == "active" and r, what="relay active"
    )
    task_id = relay["current_task_id"]
    assert stack.callback(task_id, stack.aliyun.set_task_status(task_id, 1)).status_code == 200
    assert stack.relay(relay_id)["state"] == "active"

    exited = stack.callback(task_id, stack.aliyun.set_task_status(task_id, -1))
    assert exited.json() == {"status": "accepted"}
    # The answer comes after the commit: the relay has ended by then, no job needed.
    assert stack.relay(relay_id)["state"] == "ended"
    assert not [j for j in stack.wait_jobs_settled() if j.get("action") == "stop_ingest"]
