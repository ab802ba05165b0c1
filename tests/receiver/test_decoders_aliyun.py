"""Alibaba pull-to-push callback decoding, and the route's answer to what is not an event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from receiver.decoders.aliyun import decode_aliyun_pull_to_push
from receiver.decoders.base import Malformed, Unrecognized
from receiver.events import EventKind, Provider, Source, Status
from tests.receiver.helpers import SAMPLE, SAMPLE_TASK_ID, Server, aliyun_status, db_rows, dumps


def decode(body: dict[str, Any] | bytes, **context: str) -> Any:
    raw = body if isinstance(body, bytes) else dumps(body)
    return decode_aliyun_pull_to_push(raw, context)


def test_documented_sample_as_sent() -> None:
    raw = dumps(SAMPLE)
    event = decode_aliyun_pull_to_push(raw, {"region": "cn-beijing"})
    assert event.source is Source.ALIYUN_PULL_TO_PUSH
    assert event.provider is Provider.ALIYUN
    assert event.task_id == SAMPLE_TASK_ID  # the top-level TaskId, not TaskInfo's
    assert event.kind is EventKind.STATUS
    assert event.status is Status.RUNNING
    assert event.reason == ""
    assert event.event_time_ms == 1725501246000
    assert event.provider_status == "1"
    assert event.raw == raw
    assert event.task_info == SAMPLE["TaskInfo"]
    assert event.context == {"region": "cn-beijing"}


@pytest.mark.parametrize("name", ["LivePullToPushRuning", "LivePullToPushRunning"])
@pytest.mark.parametrize(("code", "status"), [(1, Status.RUNNING), (3, Status.OFFLINE)])
def test_both_event_spellings_take_the_state_from_task_status(
    name: str, code: int, status: Status
) -> None:
    event = decode({"Event": name, "EventTime": "1725501246", "TaskId": "t-1", "TaskStatus": code})
    assert event.status is status
    assert event.kind is EventKind.STATUS


@pytest.mark.parametrize(
    "name", ["LivePullToPushRuning", "LivePullToPushRunning", "LivePullToPushOffline", None]
)
def test_a_status_callback_without_task_status_is_unrecognized(name: str | None) -> None:
    # The Event is LivePullToPushRunning for every state, so it cannot stand in for TaskStatus.
    body = {"Event": name, "EventTime": "1725501246", "TaskId": "t-1", "TaskStatus": ""}
    with pytest.raises(Unrecognized, match="without TaskStatus"):
        decode(body)
    del body["TaskStatus"]
    with pytest.raises(Unrecognized, match="without TaskStatus"):
        decode(body)


def test_string_and_numeric_fields_decode_to_the_same_event() -> None:
    as_strings = decode(aliyun_status("t-1", "3", "1725501300", reason="PullStreamFailed"))
    as_numbers = decode(aliyun_status("t-1", 3, 1725501300, reason="PullStreamFailed"))
    assert as_strings.status is as_numbers.status is Status.OFFLINE
    assert as_strings.event_time_ms == as_numbers.event_time_ms == 1725501300000
    assert as_strings.provider_status == as_numbers.provider_status == "3"
    assert as_strings.dedupe_key == as_numbers.dedupe_key
    # A whole-number float EventTime is the same time.
    assert decode(aliyun_status("t-1", 3, 1725501300.0, reason="PullStreamFailed")).dedupe_key == (
        as_numbers.dedupe_key
    )


def test_dedupe_key_tells_different_events_apart() -> None:
    base = decode(aliyun_status("t-1", 3, 100, reason="PullStreamFailed"))
    others = [
        aliyun_status("t-2", 3, 100, reason="PullStreamFailed"),
        aliyun_status("t-1", 2, 100),
        aliyun_status("t-1", 3, 101, reason="PullStreamFailed"),
        aliyun_status("t-1", 3, 100, reason="PushStreamFailed"),
    ]
    assert len({base.dedupe_key, *(decode(body).dedupe_key for body in others)}) == 5


@pytest.mark.parametrize(
    ("code", "status"), [(1, Status.RUNNING), (2, Status.RECOVERING), (3, Status.OFFLINE)]
)
def test_status_codes(code: int, status: Status) -> None:
    assert decode(aliyun_status("t", code, 1)).status is status
    assert decode(aliyun_status("t", str(code), "1")).status is status


@pytest.mark.parametrize(
    "reason",
    ["PullStreamFailed", "PushStreamFailed", "TriggerByUser", "UnknownError", "RetryTimesOffline"],
)
def test_offline_reasons(reason: str) -> None:
    event = decode(aliyun_status("t", "3", "1725501300", reason=reason))
    assert event.status is Status.OFFLINE
    assert event.reason == reason


def test_unknown_offline_reason_is_kept_verbatim() -> None:
    event = decode(aliyun_status("t", 3, 1725501300, reason="QuotaExceeded.New Reason/β"))
    assert event.status is Status.OFFLINE
    assert event.reason == "QuotaExceeded.New Reason/β"


EXIT_BODIES: dict[str, dict[str, Any]] = {
    "event-name": {
        "Event": "LivePullToPushExit",
        "EventTime": "1725509000",
        "TaskId": "t-exit",
        "TaskExitTime": "1725509000",
    },
    "task-status-minus-1": {
        "Event": "LivePullToPushStatusChanged",
        "EventTime": 1725509000,
        "TaskId": "t-exit",
        "TaskStatus": "-1",
    },
    "exit-reason": {
        "TaskId": "t-exit",
        "TaskExitReason": "OverEndTime",
        "TaskExitTime": 1725509000,
    },
}


@pytest.mark.parametrize("sign", sorted(EXIT_BODIES))
def test_exit_recognized_by_each_sign(sign: str) -> None:
    event = decode(EXIT_BODIES[sign])
    assert event.kind is EventKind.EXIT
    assert event.status is Status.EXITED
    assert event.provider_status == "exit"
    # Without EventTime the exit time orders the event.
    assert event.event_time_ms == 1725509000000


def test_exit_reason_and_exit_time_when_event_time_is_absent() -> None:
    event = decode(
        {
            "Event": "LivePullToPushExit",
            "TaskId": "t-exit",
            "TaskExitReason": "TriggerByUser",
            "TaskExitTime": "1725509999",
            "TaskStatus": -1,
        }
    )
    assert event.reason == "TriggerByUser"
    assert event.event_time_ms == 1725509999000


def test_exit_with_status_code_three_and_exit_reason_is_an_exit() -> None:
    body = aliyun_status("t", 3, 1, reason="PullStreamFailed")
    body["TaskExitReason"] = "OverEndTime"
    event = decode(body)
    assert event.status is Status.EXITED
    assert event.reason == "OverEndTime"


def test_task_id_taken_from_task_info_when_missing_on_top() -> None:
    event = decode({"TaskStatus": 1, "EventTime": 5, "TaskInfo": {"TaskId": "from-info"}})
    assert event.task_id == "from-info"


@pytest.mark.parametrize(
    "body",
    [
        {"hello": "world"},
        {"TaskStatus": 1, "EventTime": 5},
        {"TaskId": "   ", "TaskStatus": 1},
        {"TaskId": "t", "TaskStatus": 7},
        {"TaskId": "t", "Event": "LivePullToPushSomethingElse"},
        {"TaskId": 42, "TaskStatus": 1},
        {"TaskId": "t", "TaskStatus": True},
        [1, 2, 3],
        "a string",
        {"TaskId": "t", "TaskStatus": 1, "EventTime": 1e300},
        {"TaskId": "t", "TaskStatus": 1, "EventTime": -5},
        {"TaskId": "t", "TaskStatus": 1, "EventTime": "99999999999999999999"},
        {"TaskId": "t", "TaskExitReason": "OverEndTime", "TaskExitTime": 1e300},
    ],
)
def test_json_that_is_not_a_pull_to_push_event_is_unrecognized(body: Any) -> None:
    with pytest.raises(Unrecognized) as info:
        decode(dumps(body))
    assert info.value.reason


@pytest.mark.parametrize("literal", ["9" * 30, "9" * 5000, "1e999", "-1e999", "1.5"])
def test_absurd_event_times_never_reach_the_store(literal: str) -> None:
    for value in (literal.encode(), b'"' + literal.encode() + b'"'):
        raw = b'{"TaskId":"t","TaskStatus":1,"EventTime":' + value + b"}"
        try:
            event = decode(raw)
        except (Unrecognized, Malformed):
            continue
        # Tolerated as "no time" (then ordered by arrival), never as an absurd number.
        assert event.event_time_ms is None


def test_absurd_task_status_literals_are_unrecognized() -> None:
    for literal in ("9" * 30, "9" * 5000, "1e999"):
        for value in (literal.encode(), b'"' + literal.encode() + b'"'):
            with pytest.raises(Unrecognized):
                decode(b'{"TaskId":"t","TaskStatus":' + value + b"}")


@pytest.mark.parametrize(
    "prefix",
    [
        b'{"TaskId":"t","TaskStatus":1,"TaskInfo":{"x":',  # nesting inside a known field
        b'{"TaskId":"t","TaskStatus":1,"TaskInfo":[',  # after a wrong type (TaskInfo)
        b'{"TaskStatus":true,"x":[',  # after a wrong type, in an unknown field
    ],
)
def test_deeply_nested_json_is_unrecognized_not_a_crash(prefix: bytes) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    raw = prefix + nested + b"]" * prefix.count(b"[") + b"}" * prefix.count(b"{")
    with pytest.raises(Unrecognized, match="nested"):
        decode(raw)


def test_valid_json_with_a_huge_integer_is_unrecognized_not_malformed() -> None:
    with pytest.raises(Unrecognized):
        decode(b'{"TaskId":"t","TaskStatus":' + b"9" * 30 + b',"x":' + b"9" * 30 + b"}")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"TaskId": "t"',
        b"\xff\xfe\x00",
        b'{"TaskId": "\xff"}',
        b"{'a': 1}",
        b"[1, 2",  # wrong shape first, broken further on
        b'{"TaskId": 5, "TaskStatus": [1, 2',
        b'{"TaskId": "t", "TaskStatus": 1} trailing',
    ],
)
def test_not_json_is_malformed(raw: bytes) -> None:
    with pytest.raises(Malformed):
        decode(raw)


def test_content_is_parsed_whatever_the_whitespace() -> None:
    raw = json.dumps(SAMPLE, indent="\t").encode()
    assert decode(raw).event_time_ms == 1725501246000


def test_a_status_callback_without_task_status_is_quarantined_by_the_route(server: Server) -> None:
    body = {"Event": "LivePullToPushRunning", "EventTime": "1725501246", "TaskId": "t-q"}
    response = server.aliyun(body)
    assert response.status_code == 202 and response.json() == {"status": "unrecognized"}
    [row] = db_rows(server.db, "SELECT source, reason, body FROM unrecognized")
    assert row["source"] == "aliyun_pull_to_push" and "TaskStatus" in row["reason"]
    assert json.loads(row["body"]) == body
    assert server.api("GET", "/api/tasks/aliyun/t-q").status_code == 404
