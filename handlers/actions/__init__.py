"""The follow-up actions, by the name jobs carry. Each is idempotent.

An action returns normally when the job is done (including "nothing left to do"), raises
``Skip`` when the relay moved on, and raises ``ProviderError`` (classified) or another
exception when the job is not done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.actions.aliyun import adopt_task, create_task, delete_task, recreate
from handlers.actions.artc import start_transcode, stop_transcode
from handlers.actions.common import Skip
from handlers.actions.oss import disable_channel
from handlers.actions.trtc import start_ingest, stop_ingest
from handlers.context import ActionContext
from receiver.domain.states import JobAction

__all__ = ["ACTIONS", "Action", "Skip"]

Action = Callable[[ActionContext], Awaitable[None]]

#: Every action by the name jobs carry.
ACTIONS: dict[str, Action] = {
    JobAction.CREATE_TASK: create_task,
    JobAction.ADOPT_TASK: adopt_task,
    JobAction.RECREATE: recreate,
    JobAction.DELETE_TASK: delete_task,
    JobAction.START_INGEST: start_ingest,
    JobAction.STOP_INGEST: stop_ingest,
    JobAction.CHECK_INGEST: start_ingest,
    JobAction.START_TRANSCODE: start_transcode,
    JobAction.STOP_TRANSCODE: stop_transcode,
    JobAction.DISABLE_CHANNEL: disable_channel,
}
