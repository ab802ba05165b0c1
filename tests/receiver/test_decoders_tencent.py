"""Tencent CSS pull-to-push callbacks (event_type 314), their signing and their route."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from receiver.decoders.base import Unrecognized
from receiver.decoders.tencent import (
    LOOKUP_STREAM_ID,
    LOOKUP_TO_URL,
    decode_tencent_pull_to_push,
    needs_task_lookup,
)
from receiver.events import Provider, Status
from tests.receiver.helpers import (
    CALLBACK_TOKEN,
    TENCENT_PATH,
    Server,
    assert_error_shape,
    db_rows,
    running_server,
)

START = {
    "appid": 12345,
    "event_type": 314,
    "callback_event": "TaskStart",
    "task_id": "64539",
    "to_url": "rtmp://push.example.com/live/s",
    "stream_id": "s",
    "event_time": "1695200000",
    "source_urls": '["rtmp://src.example.com/live/s"]\n',
    "msg": json.dumps({"task_start_time": 1695200000123}),
}
#: The official TaskExit sample's shape: no task_id, the push URL and stream id instead.
EXIT_WITHOUT_TASK_ID = {
    "appid": 12345,
    "event_type": 314,
    "callback_event": "TaskExit",
    "to_url": "rtmp://push.example.com/live/s?txSecret=abc&txTime=65000000",
    "stream_id": "s",
    "msg": json.dumps({"task_exit_time": 1695203600456, "code": 0}),
}
CSS_KEY = "css-template-key-77"


def body(**changes: object) -> bytes:
    return json.dumps({k: v for k, v in {**START, **changes}.items() if v is not None}).encode()


def signed(raw: bytes, *, key: str = CSS_KEY, t: int | str | None = None) -> bytes:
    """``raw`` with the body ``t``/``sign`` CSS adds when its template has a callback key."""
    expiry = str(int(time.time()) + 600) if t is None else str(t)
    content = json.loads(raw)
    content.update(t=int(expiry) if expiry.isascii() and expiry.isdigit() else expiry)
    content["sign"] = hashlib.md5(f"{key}{expiry}".encode()).hexdigest()
    return json.dumps(content).encode()


def test_task_start_is_running_with_event_time() -> None:
    event = decode_tencent_pull_to_push(body(), {})
    assert (event.provider, event.task_id, event.status) == (Provider.TENCENT, "64539", "running")
    assert event.event_time_ms == 1695200000000
    assert event.provider_status == "TaskStart@1695200000123"


def test_alarm_reason_comes_from_the_json_inside_msg() -> None:
    event = decode_tencent_pull_to_push(
        body(callback_event="TaskAlarm", msg=json.dumps({"type": "PullFileUnstable"})), {}
    )
    assert event.status is Status.RECOVERING and event.reason == "PullFileUnstable"
    assert event.provider_status == "TaskAlarm"


def test_task_exit_is_not_terminal() -> None:
    event = decode_tencent_pull_to_push(body(callback_event="TaskExit"), {})
    assert event.status is Status.OFFLINE and event.reason == "TaskExit"


@pytest.mark.parametrize(
    "raw",
    [
        body(task_id=None, to_url=None, stream_id=None),
        body(task_id="", to_url="", stream_id="  "),
        body(event_type=315),
        body(callback_event="ResetTaskConfig"),
    ],
)
def test_bodies_without_a_task_status_or_a_task_are_unrecognized(raw: bytes) -> None:
    with pytest.raises(Unrecognized):
        decode_tencent_pull_to_push(raw, {})


def test_exit_without_task_id_carries_lookup_hints_without_the_url_signature() -> None:
    raw = json.dumps(EXIT_WITHOUT_TASK_ID).encode()
    event = decode_tencent_pull_to_push(raw, {"region": "r"})
    assert needs_task_lookup(event) and event.task_id == ""
    assert event.context == {
        "region": "r",
        LOOKUP_TO_URL: "rtmp://push.example.com/live/s",
        LOOKUP_STREAM_ID: "s",
    }
    assert "txSecret" not in json.dumps(event.context)
    assert event.event_time_ms == 1695203600456  # msg's exit time stands in for event_time
    only_stream = decode_tencent_pull_to_push(body(task_id=None, to_url=None, stream_id=7), {})
    assert only_stream.context == {LOOKUP_STREAM_ID: "7"}
    assert not needs_task_lookup(decode_tencent_pull_to_push(body(), {}))


def _keys(*bodies: bytes) -> list[str]:
    return [decode_tencent_pull_to_push(raw, {}).dedupe_key for raw in bodies]


def test_without_event_time_start_exit_start_are_three_distinct_events() -> None:
    no_time: dict[str, Any] = {"event_time": None}
    first = body(**no_time, msg=json.dumps({"task_start_time": 1695200000000}))
    exit_ = body(**no_time, callback_event="TaskExit", msg=json.dumps({"task_exit_time": 1}))
    again = body(**no_time, msg=json.dumps({"task_start_time": 1695200090000}))
    assert len(set(_keys(first, exit_, again))) == 3
    # Nor with no time anywhere: any other difference in the body tells them apart.
    bare = body(**no_time, msg=None)
    bare_again = body(**no_time, msg=None, source_urls='["rtmp://src.example.com/live/t"]')
    bare_exit = body(**no_time, msg=None, callback_event="TaskExit")
    assert len(set(_keys(bare, bare_exit, bare_again))) == 3


def test_within_one_second_msg_milliseconds_tell_events_apart() -> None:
    first = body(msg=json.dumps({"task_start_time": 1695200000100}))
    again = body(msg=json.dumps({"task_start_time": 1695200000900}))
    assert len(set(_keys(first, again))) == 2


def test_a_redelivery_is_a_duplicate_even_when_re_signed() -> None:
    bare = body(event_time=None, msg=None)
    resent = signed(bare, t=int(time.time()) + 900)
    reordered = json.dumps(dict(reversed(list(json.loads(bare).items())))).encode()
    assert len(set(_keys(bare, signed(bare), resent, reordered))) == 1
    assert len(set(_keys(body(), signed(body())))) == 1


@pytest.mark.parametrize("bad", [-4, 0, "soon", 10**20])
def test_a_msg_time_that_is_no_time_is_ignored_not_fatal(bad: object) -> None:
    # The official TaskStart sample sends task_start_time 0.
    event = decode_tencent_pull_to_push(body(msg=json.dumps({"task_start_time": bad})), {})
    assert event.provider_status == "TaskStart" and event.event_time_ms == 1695200000000
    no_time = decode_tencent_pull_to_push(
        body(event_time=None, msg=json.dumps({"task_start_time": bad})), {}
    )
    assert no_time.event_time_ms is None and no_time.provider_status.startswith("TaskStart#")


# ---------------------------------------------------------------- the route


def test_without_a_css_key_the_url_token_alone_authenticates(server: Server) -> None:
    route = server.client.post
    ok = route(TENCENT_PATH, params={"token": CALLBACK_TOKEN}, content=body())
    assert ok.status_code == 200 and ok.json() == {"status": "accepted"}
    assert_error_shape(route(TENCENT_PATH, params={"token": "x"}, content=body()), 401)


def test_with_a_css_key_body_sign_and_t_are_required(tmp_path: Path) -> None:
    with running_server(tmp_path, css_callback_key=CSS_KEY) as server:

        def post(raw: bytes, token: str = CALLBACK_TOKEN) -> Any:
            return server.client.post(TENCENT_PATH, params={"token": token}, content=raw)

        good = post(signed(body(event_time="3")))
        assert good.status_code == 200 and good.json() == {"status": "accepted"}
        refused = [
            post(body(event_time="4")),  # unsigned
            post(signed(body(event_time="5"), key="other-key")),
            post(signed(body(event_time="6"), t=int(time.time()) - 1)),  # t in the past
            post(signed(body(event_time="7"), t="²")),  # a digit to isdigit(), not to int()
            post(signed(body(event_time="8"), t="9" * 40)),
            post(b"not json"),
            post(signed(body(event_time="9")), token="wrong"),  # the URL token stays required
        ]
        for response in refused:
            assert_error_shape(response, 401, "unauthorized")
        events = server.task("tencent", "64539")["events"]
        assert len(events) == 1
        assert db_rows(server.db, "SELECT COUNT(*) AS n FROM unrecognized")[0]["n"] == 0


def test_exit_without_any_task_reference_is_quarantined(server: Server) -> None:
    raw = body(callback_event="TaskExit", task_id=None, to_url=None, stream_id=None)
    response = server.client.post(TENCENT_PATH, params={"token": CALLBACK_TOKEN}, content=raw)
    assert response.status_code == 202 and response.json() == {"status": "unrecognized"}
    [row] = db_rows(server.db, "SELECT source, reason FROM unrecognized")
    assert row["source"] == "tencent_pull_to_push" and "task_id" in row["reason"]


def test_start_exit_start_without_event_time_are_three_events_through_the_route(
    server: Server,
) -> None:
    bodies = [
        body(event_time=None, msg=json.dumps({"task_start_time": 1695200000000})),
        body(event_time=None, callback_event="TaskExit", msg=json.dumps({"task_exit_time": 5})),
        body(event_time=None, msg=json.dumps({"task_start_time": 1695200090000})),
    ]
    for raw in [*bodies, bodies[2]]:
        response = server.client.post(TENCENT_PATH, params={"token": CALLBACK_TOKEN}, content=raw)
        assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    task = server.task("tencent", "64539")
    assert len(task["events"]) == 3 and task["status"] == "running"
