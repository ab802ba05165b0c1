"""Tencent TRTC stream-ingest callbacks (see ``docs/protocols.md``)."""

from __future__ import annotations

import msgspec

from receiver.decoders.base import Unrecognized, checked_time_ms, decode_or_classify, parse_int
from receiver.events import Event, EventKind, Provider, Source, Status

__all__ = ["TrtcCallback", "decode_trtc"]

STREAM_INGEST_GROUP = 7
EVENT_INGEST_START = 701
EVENT_INGEST_STOP = 702


class TrtcEventInfo(msgspec.Struct):
    TaskId: str | None = None
    Status: int | str | None = None
    EventMsTs: int | str | None = None
    EventTs: int | str | None = None


class TrtcCallback(msgspec.Struct):
    """The shared TRTC callback envelope; other groups' ``EventInfo`` fields are ignored."""

    EventGroupId: int | str | None = None
    EventType: int | str | None = None
    CallbackMsTs: int | str | None = None
    CallbackTs: int | str | None = None
    EventInfo: TrtcEventInfo | None = None


_DECODER = msgspec.json.Decoder(TrtcCallback)

_START_STATUS = {
    0: (Status.RUNNING, ""),
    1: (Status.FAILED, "StartFailed"),
    2: (Status.RUNNING, "Restarted"),
}


def decode_trtc(raw: bytes, context: dict[str, str]) -> Event:
    """Normalize one TRTC callback; only stream-ingest events (group 7) are events for us."""
    body = decode_or_classify(raw, _DECODER)
    group = parse_int(body.EventGroupId)
    event_type = parse_int(body.EventType)
    if group != STREAM_INGEST_GROUP or event_type not in (EVENT_INGEST_START, EVENT_INGEST_STOP):
        raise Unrecognized(
            f"TRTC event group {body.EventGroupId!r} type {body.EventType!r} is not handled"
        )
    info = body.EventInfo
    if info is None or not info.TaskId:
        raise Unrecognized("TRTC stream-ingest event without EventInfo.TaskId")
    status_code = parse_int(info.Status)
    if event_type == EVENT_INGEST_START:
        if status_code not in _START_STATUS:
            raise Unrecognized(f"TRTC 701 with unknown Status {info.Status!r}")
        status, reason = _START_STATUS[status_code]
        kind = EventKind.INGEST_START
    else:
        status, reason, kind = Status.STOPPED, "", EventKind.INGEST_STOP
    event_ms = parse_int(info.EventMsTs)
    if event_ms is None:
        seconds = parse_int(info.EventTs)
        event_ms = seconds * 1000 if seconds is not None else parse_int(body.CallbackMsTs)
    event_ms = checked_time_ms(event_ms, "the event time")
    return Event(
        source=Source.TRTC,
        provider=Provider.TRTC,
        task_id=info.TaskId,
        kind=kind,
        status=status,
        reason=reason,
        event_time_ms=event_ms,
        provider_status=f"{event_type}:{status_code}",
        raw=raw,
        context=context,
    )
