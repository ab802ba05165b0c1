"""Tencent CSS pull-to-push callbacks (event_type 314) and their route."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest

from receiver.app import create_app
from receiver.auth import css_sign_valid
from receiver.config import Settings
from receiver.decoders.base import Unrecognized
from receiver.decoders.tencent import decode_tencent_pull_to_push
from receiver.events import Provider, Status
from tests.support.servers import serve_in_thread

START = {
    "appid": 12345,
    "event_type": 314,
    "callback_event": "TaskStart",
    "task_id": "64539",
    "to_url": "rtmp://push.example.com/live/s",
    "stream_id": "s",
    "event_time": "1695200000",
    "source_urls": '["rtmp://src.example.com/live/s"]\n',
    "msg": json.dumps({"task_start_time": 1695200000000}),
}


def body(**changes: object) -> bytes:
    return json.dumps({**START, **changes}).encode()


def test_task_start_is_running_with_event_time() -> None:
    event = decode_tencent_pull_to_push(body(), {})
    assert (event.provider, event.task_id, event.status) == (Provider.TENCENT, "64539", "running")
    assert event.event_time_ms == 1695200000000


def test_alarm_reason_comes_from_the_json_inside_msg() -> None:
    event = decode_tencent_pull_to_push(
        body(callback_event="TaskAlarm", msg=json.dumps({"type": "PullFileUnstable"})), {}
    )
    assert event.status is Status.RECOVERING and event.reason == "PullFileUnstable"


def test_task_exit_is_not_terminal() -> None:
    event = decode_tencent_pull_to_push(body(callback_event="TaskExit"), {})
    assert event.status is Status.OFFLINE and event.reason == "TaskExit"


@pytest.mark.parametrize(
    "raw",
    [
        body(task_id=None),  # the official TaskExit sample has no task_id
        body(event_type=315),
        body(callback_event="ResetTaskConfig"),
    ],
)
def test_bodies_without_a_task_status_are_unrecognized(raw: bytes) -> None:
    with pytest.raises(Unrecognized):
        decode_tencent_pull_to_push(raw, {})


def test_css_sign_is_md5_of_key_and_expiry() -> None:
    t = str(int(time.time()) + 60)
    sign = hashlib.md5(f"key{t}".encode()).hexdigest()
    assert css_sign_valid("key", t, sign)
    assert not css_sign_valid("key", t, "0" * 32)
    assert not css_sign_valid("other", t, sign)
    assert not css_sign_valid("key", "100", hashlib.md5(b"key100").hexdigest())  # expired
    assert css_sign_valid("key", None, None)  # absent: only the token authenticates


def test_route_accepts_token_and_checks_sign_when_present(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", callback_token="tok")
    with serve_in_thread(create_app(settings)) as url:
        route = f"{url}/callbacks/tencent/pull-to-push"
        ok = httpx.post(route, params={"token": "tok"}, content=body())
        assert ok.status_code == 200 and ok.json() == {"status": "accepted"}
        t = str(int(time.time()) + 60)
        bad = httpx.post(
            route, params={"token": "tok", "t": t, "sign": "0" * 32}, content=body(event_time="2")
        )
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
        good_sign = hashlib.md5(f"tok{t}".encode()).hexdigest()
        signed = httpx.post(
            route, params={"token": "tok", "t": t, "sign": good_sign}, content=body(event_time="3")
        )
        assert signed.status_code == 200
        task = httpx.get(f"{url}/api/tasks/tencent/64539").json()
        assert task["status"] == "running" and len(task["events"]) == 2
