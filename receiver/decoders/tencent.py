"""Tencent CSS pull-to-push callbacks, ``event_type`` 314 (see ``docs/protocols.md``)."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

import msgspec

from receiver.decoders.base import (
    MAX_EVENT_TIME_MS,
    Unrecognized,
    checked_time_ms,
    decode_or_classify,
    parse_int,
)
from receiver.events import Event, EventKind, Provider, Source, Status

__all__ = [
    "LOOKUP_STREAM_ID",
    "LOOKUP_TO_URL",
    "UNRESOLVED_TASK_ID",
    "TencentPullToPushCallback",
    "decode_tencent_pull_to_push",
    "needs_task_lookup",
]

PULL_TO_PUSH_EVENT_TYPE = 314

#: ``task_id`` of an event whose body named no task: the store resolves it from the hints.
UNRESOLVED_TASK_ID = ""
#: Context keys of those hints: the push URL (without its query, which may hold a signature)
#: and the stream id, to be matched against the task that pushes there.
LOOKUP_TO_URL = "lookup_to_url"
LOOKUP_STREAM_ID = "lookup_stream_id"

#: Which time inside ``msg`` (milliseconds) belongs to which event.
_MSG_TIME_FIELD = {"TaskStart": "task_start_time", "TaskExit": "task_exit_time"}
#: Fields that a redelivery may compute afresh (the signature and its expiry): left out of
#: the body digest so that a retry still digests the same.
_UNSTABLE_FIELDS = frozenset({"t", "sign"})


class TencentPullToPushCallback(msgspec.Struct):
    """The CSS callback as sent: ``msg`` and ``source_urls`` are JSON inside strings."""

    event_type: int | str | None = None
    callback_event: str | None = None
    task_id: str | int | None = None
    event_time: str | int | None = None
    msg: str | dict[str, object] | None = None
    appid: int | str | None = None
    to_url: str | int | None = None
    stream_id: str | int | None = None


_DECODER = msgspec.json.Decoder(TencentPullToPushCallback)
_ENCODER = msgspec.json.Encoder(order="sorted")


def _inner(msg: str | dict[str, object] | None) -> dict[str, object]:
    if isinstance(msg, dict):
        return msg
    if not msg:
        return {}
    try:
        value = msgspec.json.decode(msg.strip())
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deeply
        return {}
    return value if isinstance(value, dict) else {}


def _body_digest(raw: bytes) -> str:
    """A digest of the body's content, ``t``/``sign`` left out, key order normalized."""
    try:
        content = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):  # unreachable after a typed decode
        content = None
    if isinstance(content, dict):
        stable = {k: v for k, v in content.items() if k not in _UNSTABLE_FIELDS}
        raw = _ENCODER.encode(stable)
    return hashlib.sha256(raw).hexdigest()[:16]


def _lookup_hints(body: TencentPullToPushCallback) -> dict[str, str]:
    hints: dict[str, str] = {}
    to_url = str(body.to_url or "").strip()
    if to_url:
        parts = urlsplit(to_url)
        hints[LOOKUP_TO_URL] = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    stream_id = str(body.stream_id or "").strip()
    if stream_id:
        hints[LOOKUP_STREAM_ID] = stream_id
    return hints


def needs_task_lookup(event: Event) -> bool:
    """True for an event the store must first match to a task by its lookup hints."""
    return event.task_id == UNRESOLVED_TASK_ID


def decode_tencent_pull_to_push(raw: bytes, context: dict[str, str]) -> Event:
    """Normalize a CSS pull-to-push callback.

    ``TaskExit`` is not terminal: CSS sends it also when it migrates or retries a task before
    its end time, so it maps to ``offline`` and a later ``TaskStart`` brings the task back.
    A body without ``task_id`` (the official TaskExit sample has none) is decoded with
    :data:`UNRESOLVED_TASK_ID` and its ``to_url``/``stream_id`` as lookup hints in the
    context; without either it is not an event.
    """
    body = decode_or_classify(raw, _DECODER)
    if parse_int(body.event_type) != PULL_TO_PUSH_EVENT_TYPE:
        raise Unrecognized(f"CSS event_type {body.event_type!r} is not a pull-to-push event")
    event = body.callback_event or ""
    inner = _inner(body.msg)
    if event == "TaskStart" or event in ("VodSourceFileStart", "VodSourceFileFinish"):
        status, reason = Status.RUNNING, "" if event == "TaskStart" else event
    elif event == "TaskExit":
        status, reason = Status.OFFLINE, "TaskExit"
    elif event == "TaskAlarm":
        status, reason = Status.RECOVERING, str(inner.get("type") or "TaskAlarm")
    else:
        raise Unrecognized(f"CSS pull-to-push event {event!r} carries no task status")
    task_id = str(body.task_id).strip() if body.task_id not in (None, "") else ""
    if not task_id:
        hints = _lookup_hints(body)
        if not hints:
            raise Unrecognized(f"CSS {event} callback without task_id, to_url or stream_id")
        context = {**context, **hints}
    seconds = parse_int(body.event_time)
    msg_field = _MSG_TIME_FIELD.get(event)
    msg_ms = parse_int(inner.get(msg_field)) if msg_field else None
    if msg_ms is not None and not 0 < msg_ms <= MAX_EVENT_TIME_MS:
        # msg is detail, not the event: a time that is no time (the official TaskStart
        # sample sends task_start_time 0) is ignored rather than quarantining the event.
        msg_ms = None
    event_time_ms = checked_time_ms(None if seconds is None else seconds * 1000, "event_time")
    # The dedupe key (source, task, kind, provider status, reason, event time) must repeat
    # for a redelivery and differ for a distinct event. event_time has whole seconds, and
    # may be absent: then TaskStart, TaskExit, TaskStart would collapse into two events. So
    # the provider status carries a discriminator: the event's own millisecond time from
    # msg when there is one, and, when event_time is absent, a digest of the body without
    # t/sign (a redelivery repeats the body; a distinct event differs in some field).
    provider_status = event
    if msg_ms is not None:
        provider_status += f"@{msg_ms}"
    if seconds is None:
        provider_status += f"#{_body_digest(raw)}"
        event_time_ms = msg_ms
    return Event(
        source=Source.TENCENT_PULL_TO_PUSH,
        provider=Provider.TENCENT,
        task_id=task_id or UNRESOLVED_TASK_ID,
        kind=EventKind.STATUS,
        status=status,
        reason=reason,
        event_time_ms=event_time_ms,
        provider_status=provider_status,
        raw=raw,
        context=context,
    )
