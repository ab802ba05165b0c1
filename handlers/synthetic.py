"""Synthetic events: what a Describe answer says, as an event of the callback path.

The reconciler and the orphan sweep turn provider answers into events of source
``reconciler``; they are recorded in the task's history like callbacks, and the same
ordering rule and rules act on them. Their raw body is a short summary, never the answer
itself (whose TaskInfo carries the CallbackUrl and its token).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from handlers.provider_answers import PullToPushTask
from receiver.decoders.aliyun import _STATUS_BY_CODE  # one reading of TaskStatus codes
from receiver.domain.states import EventKind, Provider, Source, Status
from receiver.events import Event
from receiver.store.rows import now_ms

__all__ = ["VANISHED", "describe_event", "ingest_gone_event"]

#: The reason of a synthetic offline event for a task its own region no longer knows.
VANISHED = "TaskNotExist"


def _event(
    provider: Provider,
    task_id: str,
    kind: EventKind,
    status: Status,
    reason: str,
    seen: Mapping[str, str | int],
    context: dict[str, str],
    task_info: dict[str, object] | None = None,
) -> Event:
    now = now_ms()
    raw = msgspec.json.encode({"Source": "reconciler", **seen})
    return Event(
        source=Source.RECONCILER,
        provider=provider,
        task_id=task_id,
        kind=kind,
        status=status,
        reason=reason,
        event_time_ms=now,
        provider_status=f"reconciled:{status.value}",
        raw=raw,
        task_info=task_info,
        context=context,
    )


def describe_event(
    task_id: str, answer: PullToPushTask | None, context: dict[str, str]
) -> Event | None:
    """The synthetic event for a Describe answer (None: vanished), or None if unreadable."""
    if answer is None:
        gone = {"Api": "DescribeLivePullToPush", "Code": "CodeTaskNotExist"}
        return _event(
            Provider.ALIYUN, task_id, EventKind.STATUS, Status.OFFLINE, VANISHED, gone, context
        )
    code = answer.status_code
    status = None if code is None else _STATUS_BY_CODE.get(code)
    if code is None or status is None:
        return None
    info = {k: v for k, v in answer.info.items() if k != "CallbackURL"}
    exited = status is Status.EXITED
    reason = (answer.TaskExitReason if exited else answer.TaskInvalidReason) or ""
    seen: dict[str, str | int] = {
        "Api": "DescribeLivePullToPush",
        "TaskStatus": code,
        "Reason": reason,
    }
    kind = EventKind.EXIT if exited else EventKind.STATUS
    return _event(Provider.ALIYUN, task_id, kind, status, reason, seen, context, info)


def ingest_gone_event(sdk_app_id: int, task_id: str) -> Event:
    """The synthetic 702 for an ingest DescribeStreamIngest says ``NotExist``."""
    seen = {"Api": "DescribeStreamIngest", "Status": "NotExist"}
    context = {"sdk_app_id": str(sdk_app_id)}
    return _event(
        Provider.TRTC, task_id, EventKind.INGEST_STOP, Status.STOPPED, "NotExist", seen, context
    )
