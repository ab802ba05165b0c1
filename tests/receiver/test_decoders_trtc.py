"""TRTC stream-ingest callback decoding (group 7, events 701 and 702)."""

from __future__ import annotations

import json

import pytest

from receiver.decoders.base import Malformed, Unrecognized
from receiver.decoders.trtc import decode_trtc
from receiver.events import EventKind, Provider, Source, Status
from tests.receiver.helpers import trtc_ingest

#: The documented sample, byte for byte.
SAMPLE = (
    b'{"EventGroupId":7,"EventType":701,"CallbackMsTs":1701937900012,'
    b'"EventInfo":{"EventMsTs":1701937900013,"TaskId":"xx","Status":0}}'
)


def test_documented_sample() -> None:
    event = decode_trtc(SAMPLE, {"sdk_app_id": "1400000000"})
    assert event.source is Source.TRTC
    assert event.provider is Provider.TRTC
    assert event.task_id == "xx"
    assert event.kind is EventKind.INGEST_START
    assert event.status is Status.RUNNING
    assert event.reason == ""
    assert event.event_time_ms == 1701937900013  # EventMsTs, not CallbackMsTs
    assert event.raw == SAMPLE
    assert event.context == {"sdk_app_id": "1400000000"}


@pytest.mark.parametrize(
    ("status", "expected", "reason"),
    [(0, Status.RUNNING, ""), (1, Status.FAILED, "StartFailed"), (2, Status.RUNNING, "Restarted")],
)
def test_701_statuses(status: int, expected: Status, reason: str) -> None:
    event = decode_trtc(trtc_ingest("task+/1", 701, status, 1701937900013), {})
    assert event.kind is EventKind.INGEST_START
    assert event.status is expected
    assert event.reason == reason
    assert event.provider_status == f"701:{status}"
    assert event.task_id == "task+/1"


def test_702_is_stopped() -> None:
    event = decode_trtc(trtc_ingest("t", 702, 0, 1701937999000), {})
    assert event.kind is EventKind.INGEST_STOP
    assert event.status is Status.STOPPED
    assert event.event_time_ms == 1701937999000


def test_string_event_ms_and_numeric_strings_are_accepted() -> None:
    body = {
        "EventGroupId": "7",
        "EventType": "701",
        "EventInfo": {"EventMsTs": "1701937900013", "TaskId": "t", "Status": "2"},
    }
    event = decode_trtc(json.dumps(body).encode(), {})
    assert event.status is Status.RUNNING
    assert event.event_time_ms == 1701937900013
    assert event.dedupe_key == decode_trtc(trtc_ingest("t", 701, 2, 1701937900013), {}).dedupe_key


def test_time_falls_back_to_event_ts_then_callback_ms_ts() -> None:
    seconds = {"EventGroupId": 7, "EventType": 702, "EventInfo": {"TaskId": "t", "EventTs": 17}}
    assert decode_trtc(json.dumps(seconds).encode(), {}).event_time_ms == 17_000
    callback = {
        "EventGroupId": 7,
        "EventType": 702,
        "CallbackMsTs": 99,
        "EventInfo": {"TaskId": "t"},
    }
    assert decode_trtc(json.dumps(callback).encode(), {}).event_time_ms == 99


#: The body of TRTC's published signature example: a room event (group 2).
ROOM_EVENT = (
    b'{\n\t"EventGroupId":\t2,\n\t"EventType":\t204,\n\t"CallbackTs":\t1664209748188,\n'
    b'\t"EventInfo":\t{\n\t\t"RoomId":\t8489,\n\t\t"EventTs":\t1664209748,\n'
    b'\t\t"EventMsTs":\t1664209748180,\n\t\t"UserId":\t"user_85034614",\n\t\t"Reason":\t0\n\t}\n}'
)


@pytest.mark.parametrize(
    "raw",
    [
        ROOM_EVENT,
        trtc_ingest("t", 701, 0, 1, group=4),
        trtc_ingest("t", 703, 0, 1),
        trtc_ingest("t", 701, 9, 1),
        trtc_ingest("", 701, 0, 1),
        b'{"EventGroupId":7,"EventType":701}',
        b'{"EventGroupId":7,"EventType":701,"EventInfo":{"TaskId":5,"Status":0}}',
        b'{"EventGroupId":7,"EventType":701,"EventInfo":"text"}',
        b"[7, 701]",
        trtc_ingest("t", 702, 0, "1" + "0" * 40),
    ],
)
def test_other_events_are_unrecognized(raw: bytes) -> None:
    with pytest.raises(Unrecognized) as info:
        decode_trtc(raw, {})
    assert info.value.reason


@pytest.mark.parametrize("raw", [b"", b"{", b"\x80abc", b'{"EventInfo":{"TaskId":"\xc3"}}'])
def test_not_json_is_malformed(raw: bytes) -> None:
    with pytest.raises(Malformed):
        decode_trtc(raw, {})
