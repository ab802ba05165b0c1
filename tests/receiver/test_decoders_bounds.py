"""Every decoder turns hostile-but-authentic bodies into Malformed/Unrecognized, never a crash.

Regressions: a time beyond SQLite's 64-bit integers (or a datetime) used to reach the store
(OverflowError, then a 500 and a lost body); deep nesting raised RecursionError and bad
UTF-8 inside a string raised UnicodeDecodeError out of msgspec (both 500s).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from receiver.decoders.aliyun import decode_aliyun_pull_to_push
from receiver.decoders.base import MAX_EVENT_TIME_MS, Malformed, Unrecognized
from receiver.decoders.tencent import decode_tencent_pull_to_push
from receiver.decoders.trtc import decode_trtc
from receiver.events import Event

Decoder = Callable[[bytes, dict[str, str]], Event]

NESTED = b"[" * 50_000 + b"]" * 50_000


def aliyun_time(value: bytes) -> bytes:
    return b'{"TaskId":"t","TaskStatus":1,"EventTime":' + value + b"}"


def trtc_time(value: bytes) -> bytes:
    return (
        b'{"EventGroupId":7,"EventType":701,"EventInfo":{"TaskId":"t","Status":0,"EventMsTs":'
        + value
        + b"}}"
    )


def css_time(value: bytes) -> bytes:
    return (
        b'{"event_type":314,"callback_event":"TaskStart","task_id":"1","event_time":' + value + b"}"
    )


@pytest.mark.parametrize(
    ("decoder", "body"),
    [
        (decode_aliyun_pull_to_push, aliyun_time),
        (decode_trtc, trtc_time),
        (decode_tencent_pull_to_push, css_time),
    ],
    ids=["aliyun", "trtc", "tencent"],
)
@pytest.mark.parametrize(
    "value",
    [
        b'"' + b"9" * 30 + b'"',
        b'"1e300"',
        b'"-5"',
        b'"' + str(MAX_EVENT_TIME_MS + 1).encode() + b'"',
    ],
)
def test_times_out_of_range_are_unrecognized(
    decoder: Decoder, body: Callable[[bytes], bytes], value: bytes
) -> None:
    with pytest.raises(Unrecognized, match="time"):
        decoder(body(value), {})


@pytest.mark.parametrize(
    ("decoder", "body", "value", "expected_ms"),
    [
        (decode_aliyun_pull_to_push, aliyun_time, b"253402300799", 253402300799000),
        (decode_aliyun_pull_to_push, aliyun_time, b"0", 0),
        (decode_trtc, trtc_time, str(MAX_EVENT_TIME_MS).encode(), MAX_EVENT_TIME_MS),
        (decode_tencent_pull_to_push, css_time, b'"253402300799"', 253402300799000),
    ],
)
def test_times_at_the_bounds_are_kept(
    decoder: Decoder, body: Callable[[bytes], bytes], value: bytes, expected_ms: int
) -> None:
    assert decoder(body(value), {}).event_time_ms == expected_ms


@pytest.mark.parametrize(
    "decoder", [decode_aliyun_pull_to_push, decode_trtc, decode_tencent_pull_to_push]
)
@pytest.mark.parametrize(
    "raw",
    [NESTED, b'{"x":' + NESTED + b"}", b'{"event_type":true,"x":' + NESTED + b"}"],
    ids=["array", "in-object", "after-wrong-type"],
)
def test_deep_nesting_is_unrecognized(decoder: Decoder, raw: bytes) -> None:
    with pytest.raises(Unrecognized):
        decoder(raw, {})


@pytest.mark.parametrize(
    "decoder", [decode_aliyun_pull_to_push, decode_trtc, decode_tencent_pull_to_push]
)
@pytest.mark.parametrize("raw", [b'"\xc3', b"\xfe{}", b"[1, 2", b'{"a": 1'])
def test_broken_bytes_are_malformed(decoder: Decoder, raw: bytes) -> None:
    with pytest.raises(Malformed):
        decoder(raw, {})


def test_css_msg_nested_too_deeply_is_ignored_not_a_crash() -> None:
    body = {
        "event_type": 314,
        "callback_event": "TaskAlarm",
        "task_id": "1",
        "event_time": "1695200000",
        "msg": "[" * 50_000 + "]" * 50_000,
    }
    event = decode_tencent_pull_to_push(json.dumps(body).encode(), {})
    assert event.reason == "TaskAlarm"
