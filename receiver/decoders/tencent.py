"""Tencent CSS pull-to-push callbacks, ``event_type`` 314."""

from __future__ import annotations

from typing import Any

import msgspec

from receiver.decoders.base import Unrecognized, checked_time_ms, decode_or_classify, parse_int
from receiver.events import Event, EventKind, Provider, Source, Status

__all__ = ["TencentPullToPushCallback", "decode_tencent_pull_to_push"]

PULL_TO_PUSH_EVENT_TYPE = 314


class TencentPullToPushCallback(msgspec.Struct):
    """The CSS callback as sent: ``msg`` and ``source_urls`` are JSON inside strings."""

    event_type: int | str | None = None
    callback_event: str | None = None
    task_id: str | int | None = None
    event_time: str | int | None = None
    msg: str | dict[str, Any] | None = None
    appid: int | str | None = None


_DECODER = msgspec.json.Decoder(TencentPullToPushCallback)


def _inner(msg: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(msg, dict):
        return msg
    if not msg:
        return {}
    try:
        value = msgspec.json.decode(msg.strip())
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deeply
        return {}
    return value if isinstance(value, dict) else {}


def decode_tencent_pull_to_push(raw: bytes, context: dict[str, str]) -> Event:
    """Normalize a CSS pull-to-push callback.

    ``TaskExit`` is not terminal: CSS sends it also when it migrates or retries a task before
    its end time, so it maps to ``offline`` and a later ``TaskStart`` brings the task back.
    """
    body = decode_or_classify(raw, _DECODER)
    if parse_int(body.event_type) != PULL_TO_PUSH_EVENT_TYPE:
        raise Unrecognized(f"CSS event_type {body.event_type!r} is not a pull-to-push event")
    task_id = str(body.task_id).strip() if body.task_id not in (None, "") else ""
    if not task_id:
        raise Unrecognized(f"CSS {body.callback_event} callback without task_id")
    inner = _inner(body.msg)
    event = body.callback_event or ""
    if event == "TaskStart" or event in ("VodSourceFileStart", "VodSourceFileFinish"):
        status, reason = Status.RUNNING, "" if event == "TaskStart" else event
    elif event == "TaskExit":
        status, reason = Status.OFFLINE, "TaskExit"
    elif event == "TaskAlarm":
        status, reason = Status.RECOVERING, str(inner.get("type") or "TaskAlarm")
    else:
        raise Unrecognized(f"CSS pull-to-push event {event!r} carries no task status")
    seconds = parse_int(body.event_time)
    event_time_ms = checked_time_ms(None if seconds is None else seconds * 1000, "event_time")
    return Event(
        source=Source.TENCENT_PULL_TO_PUSH,
        provider=Provider.TENCENT,
        task_id=task_id,
        kind=EventKind.STATUS,
        status=status,
        reason=reason,
        event_time_ms=event_time_ms,
        provider_status=event,
        raw=raw,
        context=context,
    )
