"""Alibaba Cloud ApsaraVideo Live pull-to-push callbacks (see ``docs/protocols.md``)."""

from __future__ import annotations

import msgspec

from receiver.decoders.base import Unrecognized, checked_time_ms, decode_or_classify, parse_int
from receiver.events import Event, EventKind, Provider, Source, Status

__all__ = ["AliyunPullToPushCallback", "decode_aliyun_pull_to_push"]


class AliyunPullToPushCallback(msgspec.Struct):
    """The callback body as sent; every field optional because the docs are incomplete."""

    Event: str | None = None
    EventTime: str | int | float | None = None
    TaskId: str | None = None
    TaskInfo: dict[str, object] | None = None
    TaskStatus: str | int | None = None
    TaskInvalidReason: str | None = None
    TaskExitReason: str | None = None
    TaskExitTime: str | int | float | None = None


_DECODER = msgspec.json.Decoder(AliyunPullToPushCallback)

_STATUS_BY_CODE = {
    0: Status.IDLE,
    1: Status.RUNNING,
    2: Status.RECOVERING,
    3: Status.OFFLINE,
    -1: Status.EXITED,
}


def _is_exit(body: AliyunPullToPushCallback, status_code: int | None) -> bool:
    return (
        (body.Event is not None and "exit" in body.Event.lower())
        or status_code == -1
        or body.TaskExitReason is not None
    )


def decode_aliyun_pull_to_push(raw: bytes, context: dict[str, str]) -> Event:
    """Normalize one Alibaba pull-to-push callback body.

    Raises ``Malformed`` for a body that is not JSON and ``Unrecognized`` for JSON that is
    not a pull-to-push status or exit callback.
    """
    body = decode_or_classify(raw, _DECODER)
    task_id = body.TaskId or (body.TaskInfo or {}).get("TaskId")
    if not isinstance(task_id, str) or not task_id.strip():
        raise Unrecognized("no TaskId: not a pull-to-push callback")
    status_code = parse_int(body.TaskStatus)
    event_seconds = parse_int(body.EventTime)
    time_field = "EventTime"
    if _is_exit(body, status_code):
        if event_seconds is None:
            event_seconds = parse_int(body.TaskExitTime)
            time_field = "TaskExitTime"
        kind = EventKind.EXIT
        status = Status.EXITED
        reason = body.TaskExitReason or body.TaskInvalidReason or ""
    else:
        kind = EventKind.STATUS
        # The Event name is the same (LivePullToPushRunning, or "Runing") for every state:
        # only TaskStatus says which one, and without it the body is no status event.
        if status_code is None:
            raise Unrecognized(f"{body.Event!r} callback without TaskStatus: state unknown")
        found = _STATUS_BY_CODE.get(status_code)
        if found is None:
            raise Unrecognized(
                "unknown pull-to-push status "
                f"(Event={body.Event!r}, TaskStatus={body.TaskStatus!r})"
            )
        status = found
        reason = body.TaskInvalidReason or ""
    event_time_ms = checked_time_ms(
        None if event_seconds is None else event_seconds * 1000, time_field
    )
    return Event(
        source=Source.ALIYUN_PULL_TO_PUSH,
        provider=Provider.ALIYUN,
        task_id=task_id.strip(),
        kind=kind,
        status=status,
        reason=reason,
        event_time_ms=event_time_ms,
        provider_status=str(status_code) if kind is EventKind.STATUS else "exit",
        raw=raw,
        task_info=body.TaskInfo,
        context=context,
    )
