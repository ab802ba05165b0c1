"""A relay recorded into an OSS LiveChannel with ARTC transcoding, over real sockets.

declared → channel created, URL signed → task created → running → transcode started →
failure → re-created with a freshly signed URL → end → channel disabled, transcode stopped;
and the failure path, the lost start answer, and WHIP backup URLs. Nothing secret (signed
URL parameters, UserTokens, WHIP addresses) reaches the API's other answers or the logs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import structlog.testing

from handlers.oss_signing import rtmp_signature
from tests.e2e.conftest import Stack, relay_body, wait_for
from tests.e2e.helpers import declare, jobs_of, wait_relay
from tests.fakes.artc import FakeLiveWithArtc
from tests.fakes.oss import FakeOss

BUCKET, CHANNEL, APP, ARTC_CHANNEL = "relay-records", "rec1", "fake-artc-app", "chan-1"
USER_TOKEN = "secret-user-token-value"


@pytest.fixture
def oss() -> Iterator[FakeOss]:
    fake = FakeOss(access_key_id="fake-access-key-id", access_key_secret="fake-access-key-secret")
    with fake.serve():
        yield fake


@pytest.fixture
def live_stack(stack_factory: Callable[..., Stack], oss: FakeOss) -> Stack:
    """relaywarden with a Live OpenAPI fake that also serves ARTC, and a fake OSS."""
    live = FakeLiveWithArtc(hang_seconds=5.0, apps=frozenset({APP}))
    stack = stack_factory(aliyun=live, oss_endpoint=oss.base_url)
    stack.extra["oss"] = oss
    return stack


def recorded_relay(name: str = "rec1", **extra: Any) -> dict[str, Any]:
    body = relay_body(name, **extra)
    del body["pull_to_push"]["DstUrl"]
    body["destination"] = {
        "oss_live_channel": {
            "Bucket": BUCKET,
            "ChannelName": CHANNEL,
            "FragDuration": 2,
            "FragCount": 3,
            "PlaylistName": "rec1.m3u8",
        }
    }
    body["artc"] = {"AppId": APP, "ChannelId": ARTC_CHANNEL}
    body["artc_transcode"] = {
        "UserId": "anchor",
        "MaxIdleTime": 600,
        "OutputParams": [
            {"UserId": "anchor_360p", "UserToken": USER_TOKEN, "TranscodeTemplate": "lsd"}
        ],
    }
    return body


def _live(stack: Stack) -> FakeLiveWithArtc:
    assert isinstance(stack.aliyun, FakeLiveWithArtc)
    return stack.aliyun


def _oss(stack: Stack) -> FakeOss:
    fake = stack.extra["oss"]
    assert isinstance(fake, FakeOss)
    return fake


def assert_signed_for_channel(stack: Stack, dst_url: str) -> int:
    """Check ``dst_url`` is the channel's publish URL signed with our key; return Expires."""
    oss = _oss(stack)
    base, _, _ = dst_url.partition("?")
    assert base == oss.publish_url(BUCKET, CHANNEL)
    query = {k: v[0] for k, v in parse_qs(urlsplit(dst_url).query).items()}
    assert query["OSSAccessKeyId"] == oss.access_key_id
    expires = int(query["Expires"])
    expected = rtmp_signature(
        oss.access_key_secret,
        bucket=BUCKET,
        channel=CHANNEL,
        expires=expires,
        params={"playlistName": "rec1.m3u8"},
    )
    assert query["Signature"] == expected
    return expires


def assert_no_secrets(text: str) -> None:
    assert "Signature=" not in text.replace("Signature=***", "")
    assert "OSSAccessKeyId=fake" not in text
    assert USER_TOKEN not in text


def test_recorded_relay_lifecycle(live_stack: Stack) -> None:
    stack, live, oss = live_stack, _live(live_stack), _oss(live_stack)
    relay_id = declare(stack, recorded_relay())

    # declared → the channel is put and the task created with its signed publish URL.
    relay = wait_relay(stack, relay_id, "relay active", state="active")
    first = relay["current_task_id"]
    channel = oss.channel(BUCKET, CHANNEL)
    assert channel.config["Status"] == "enabled" and channel.config["FragDuration"] == "2"
    first_url = live.task(first).dst_url
    first_expires = assert_signed_for_channel(stack, first_url)
    end = relay["pull_to_push"]["EndTime"]
    end_s = int(time.mktime(time.strptime(end, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)
    assert first_expires >= end_s  # the URL covers the whole task
    assert "DstUrl" not in relay["pull_to_push"]  # never stored
    assert relay["channel"]["state"] == "enabled"
    assert relay["channel"]["play_url"].endswith(f"/{CHANNEL}/rec1.m3u8")

    with structlog.testing.capture_logs() as logs:
        # running → the transcode starts; its TaskId is shown, its UserToken is not.
        stack.callback(first, live.set_task_status(first, 1))
        wait_for(lambda: live.jobs, what="transcode started")
        stack.wait_jobs_settled()
        job = live.jobs[0]
        assert (job.source_user, job.max_idle) == ("anchor", 600)
        assert job.outputs[0]["UserToken"] == USER_TOKEN
        response = stack.http.get(f"/api/relays/{relay_id}")
        shown = response.json()
        assert shown["transcode"] == {"state": "running", "task_id": job.task_id}
        assert shown["artc_transcode"]["OutputParams"][0]["UserToken"] == "***"
        assert shown["channel"].get("status") == "Idle", shown["channel"]
        time.sleep(1.1)  # a new second: the re-creation's expiry differs

        # failure → re-created with a freshly signed URL; the channel is put again.
        stack.callback(first, live.set_task_status(first, 3, "PullStreamFailed"))
        relay = wait_relay(stack, relay_id, "re-creation", generation=2)
        second = relay["current_task_id"]
        second_url = live.task(second).dst_url
        assert second_url != first_url
        assert assert_signed_for_channel(stack, second_url) > first_expires
        assert len(oss.calls_for("PutLiveChannel")) == 2
        oss.start_push(BUCKET, CHANNEL)  # the new task pushes
        # Shown within the status cache's few seconds.
        wait_for(
            lambda: stack.relay(relay_id)["channel"].get("status") == "Live",
            timeout=20,
            what="channel live",
        )
        stack.callback(second, live.set_task_status(second, 1))
        stack.wait_jobs_settled()

        # end → the channel is disabled and the transcode stopped.
        stack.callback(second, live.set_task_status(second, -1))
        wait_for(lambda: live.status(job.task_id) == "STOPPED", what="transcode stopped")
        stack.wait_jobs_settled()
        relay = stack.relay(relay_id)
    assert relay["state"] == "ended"
    assert oss.channel(BUCKET, CHANNEL).config["Status"] == "disabled"
    assert relay["channel"]["state"] == "disabled" and relay["channel"]["status"] == "Disabled"
    assert relay["transcode"]["state"] == "stopped"
    assert live.publishers(APP, ARTC_CHANNEL, "anchor_360p") == []
    assert {j["action"] for j in jobs_of(stack, relay_id)} >= {
        "create_task",
        "recreate",
        "start_transcode",
        "stop_transcode",
        "disable_channel",
    }
    assert all(j["state"] == "succeeded" for j in stack.jobs())

    # Nothing secret in any answer or log line.
    answers = [stack.http.get(f"/api/relays/{relay_id}").text, stack.http.get("/api/jobs").text]
    answers += [stack.http.get(f"/api/tasks/aliyun/{t}").text for t in (first, second)]
    for text in answers:
        assert_no_secrets(text)
    assert "Signature=***" in answers[2]  # the callbacks' TaskInfo, masked
    ready = [e for e in logs if e["event"] == "channel_ready"]
    assert ready and ready[0]["publish_url"] == second_url.split("&OSSAccessKeyId")[0]
    assert any(e["event"] == "transcode_stopped" for e in logs)
    assert_no_secrets(json.dumps(logs, default=str))


def test_failed_relay_winds_down_and_points_to_whip(live_stack: Stack) -> None:
    stack, live, oss = live_stack, _live(live_stack), _oss(live_stack)
    body = recorded_relay(recreate={"max_attempts": 1, "base_delay_seconds": 0.05})
    relay_id = declare(stack, body)
    first = wait_relay(stack, relay_id, "active", state="active")["current_task_id"]
    stack.callback(first, live.set_task_status(first, 1))
    wait_for(lambda: live.jobs, what="transcode started")
    stack.callback(first, live.set_task_status(first, 3, "PullStreamFailed"))
    second = wait_relay(stack, relay_id, "re-created", generation=2)["current_task_id"]
    # The budget is spent: the next give-up fails the relay for good.
    stack.callback(second, live.set_task_status(second, 3, "PushStreamFailed"))
    relay = wait_relay(stack, relay_id, "failed", state="failed")
    stack.wait_jobs_settled()
    assert live.status(live.jobs[0].task_id) == "STOPPED"
    assert oss.channel(BUCKET, CHANNEL).config["Status"] == "disabled"
    hint = stack.relay(relay_id)["hint"]
    assert f"POST /api/relays/{relay_id}/whip" in hint and ARTC_CHANNEL in hint
    assert "gave up re-creating" in relay["failure_reason"]

    # The hint works: a backup WHIP URL for the relay's ARTC channel.
    with structlog.testing.capture_logs() as logs:
        minted = stack.http.post(f"/api/relays/{relay_id}/whip", json={"DisplayName": "OBS"})
    assert minted.status_code == 200, minted.text
    grant = minted.json()
    issued = live.whip_addresses[-1]
    assert grant["WhipAddress"] == issued["WhipAddress"]
    assert (issued["ChannelId"], issued["DisplayName"]) == (ARTC_CHANNEL, "OBS")
    assert grant["ExpireTime"] == issued["ExpireTime"] == 43_200
    assert grant["UserId"] == issued["UserId"]
    assert issued["WhipAddress"] not in json.dumps(logs, default=str)
    assert issued["WhipAddress"] not in stack.http.get(f"/api/relays/{relay_id}").text


def test_lost_transcode_start_leaves_no_unstoppable_job(live_stack: Stack) -> None:
    stack, live = live_stack, _live(live_stack)
    relay_id = declare(stack, recorded_relay())
    first = wait_relay(stack, relay_id, "active", state="active")["current_task_id"]
    live.inject("StartRtcCloudTranscode", "acted_but_lost")
    stack.callback(first, live.set_task_status(first, 1))
    # The job is started, its answer lost; the retry re-sends the identical request.
    wait_for(lambda: len(live.jobs) == 2, what="start re-sent")
    stack.wait_jobs_settled()
    orphan, kept = live.jobs
    assert orphan.outputs == kept.outputs
    assert live.publishers(APP, ARTC_CHANNEL, "anchor_360p") == [kept.task_id]
    assert stack.relay(relay_id)["transcode"] == {"state": "running", "task_id": kept.task_id}

    stack.callback(first, live.set_task_status(first, -1))
    wait_for(lambda: live.status(kept.task_id) == "STOPPED", what="transcode stopped")
    assert live.publishers(APP, ARTC_CHANNEL, "anchor_360p") == []


def test_stop_after_a_lost_start_answer_stops_a_takeover(live_stack: Stack) -> None:
    """The relay ends before any start answer arrived: stop learns a TaskId, then stops it."""
    stack, live = live_stack, _live(live_stack)
    relay_id = declare(stack, recorded_relay())
    first = wait_relay(stack, relay_id, "active", state="active")["current_task_id"]
    # Every start answer is lost until the relay has ended.
    live.inject("StartRtcCloudTranscode", *(["acted_but_lost"] * 8))
    stack.callback(first, live.set_task_status(first, 1))
    wait_for(lambda: live.jobs, what="a start sent")
    stack.callback(first, live.set_task_status(first, -1))
    live.clear_faults()
    stack.wait_jobs_settled(timeout=30)
    assert stack.relay(relay_id)["transcode"]["state"] == "stopped"
    assert live.publishers(APP, ARTC_CHANNEL, "anchor_360p") == []
    stopped = {c.params.get("TaskId") for c in live.calls_for("StopRtcCloudTranscode")}
    assert stack.relay(relay_id)["transcode"]["task_id"] in stopped


def test_whip_route_edges(live_stack: Stack) -> None:
    stack, live = live_stack, _live(live_stack)
    with_artc = declare(stack, recorded_relay())
    plain = declare(stack, relay_body("plain"))
    assert stack.http.post(f"/api/relays/{plain}/whip").json()["error"]["code"] == "no_artc"
    assert stack.http.post("/api/relays/nope/whip").status_code == 404
    bad = stack.http.post(f"/api/relays/{with_artc}/whip", json={"ExpireTime": 0})
    assert bad.status_code == 400 and "ExpireTime" in bad.json()["error"]["message"]
    odd = stack.http.post(f"/api/relays/{with_artc}/whip", json={"Colour": "red"})
    assert odd.status_code == 400
    first = stack.http.post(f"/api/relays/{with_artc}/whip", json={"ExpireTime": 600})
    second = stack.http.post(f"/api/relays/{with_artc}/whip")
    assert first.status_code == second.status_code == 200
    assert first.json()["UserId"] != second.json()["UserId"]  # unique in the channel
    assert [a["ExpireTime"] for a in live.whip_addresses] == [600, 43_200]
    live.inject("CreateRTCWhipStreamAddress", "throttle")
    throttled = stack.http.post(f"/api/relays/{with_artc}/whip")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "provider_error"


def test_declaration_edges(live_stack: Stack) -> None:
    stack = live_stack
    both = recorded_relay()
    both["pull_to_push"]["DstUrl"] = "rtmp://push.example.com/app/x"
    cases: list[tuple[dict[str, Any], str]] = [(both, "never both")]
    frag = recorded_relay()
    del frag["destination"]["oss_live_channel"]["FragCount"]
    cases.append((frag, "together"))
    idle = recorded_relay()
    idle["artc_transcode"]["MaxIdleTime"] = 5
    cases.append((idle, "MaxIdleTime"))
    template = recorded_relay()
    template["artc_transcode"]["OutputParams"][0]["TranscodeTemplate"] = "4k"
    cases.append((template, "TranscodeTemplate"))
    lonely = recorded_relay()
    del lonely["artc"]
    cases.append((lonely, "artc_transcode needs artc"))
    for body, words in cases:
        answer = stack.http.post("/api/relays", json=body)
        assert answer.status_code == 400, body
        assert words in answer.json()["error"]["message"]


def test_deleting_a_relay_stops_its_transcode_and_disables_its_channel(live_stack: Stack) -> None:
    stack, live, oss = live_stack, _live(live_stack), _oss(live_stack)
    relay_id = declare(stack, recorded_relay())
    first = wait_relay(stack, relay_id, "active", state="active")["current_task_id"]
    stack.callback(first, live.set_task_status(first, 1))
    wait_for(lambda: live.jobs, what="transcode started")
    stack.wait_jobs_settled()
    assert stack.http.delete(f"/api/relays/{relay_id}").status_code == 202
    relay = wait_relay(stack, relay_id, "deleted", state="deleted")
    assert live.task(first).deleted
    assert live.status(live.jobs[0].task_id) == "STOPPED"
    assert oss.channel(BUCKET, CHANNEL).config["Status"] == "disabled"
    assert relay["transcode"]["state"] == "stopped" and relay["channel"]["state"] == "disabled"
