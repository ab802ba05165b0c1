"""A simulated Alibaba Cloud Live OpenAPI (pull-to-push, Version 2016-11-01) for the demo.

It answers the pull-to-push operations relaywarden calls in Alibaba's formats, keeps its
tasks in memory and sends their callbacks to each task's ``CallbackUrl`` as the provider
does: Running once a task is created, Exit (``TriggerByUser``) when it is deleted. ``fail``
takes a task offline and sends the failure callback, which is what relaywarden heals.

It is a stand-in for trying relaywarden, not a test double: it checks no signatures (the
demo signs with made-up keys) and injects no faults; the tests' fake (``tests/fakes``) does.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

import httpx
import msgspec
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["SimulatedLive", "SimulatedTask"]

log = structlog.get_logger("relaywarden.demo")

#: Task statuses of Alibaba's pull-to-push callbacks.
RUNNING, OFFLINE, EXITED = 1, 3, -1
#: A created task's Running callback follows its API answer by this long, as at the provider
#: (relaywarden has recorded the new task id by then).
CALLBACK_DELAY_SECONDS = 0.3
_JSON_HEADERS = {"content-type": "application/json"}


class TaskInfo(msgspec.Struct, omit_defaults=True):
    """A task's configuration, as the provider echoes it in answers and callbacks."""

    TaskId: str
    DstUrl: str
    StartTime: str
    EndTime: str
    SourceUrls: list[str]
    SourceType: str = "live"
    TaskName: str | None = None
    CallbackURL: str = ""


class TaskState(msgspec.Struct, omit_defaults=True):
    """One task in ``DescribeLivePullToPush`` / ``DescribeLivePullToPushList`` answers."""

    TaskId: str
    TaskStatus: int
    TaskInfo: TaskInfo
    TaskInvalidReason: str | None = None
    TaskExitReason: str | None = None


class StatusCallback(msgspec.Struct, omit_defaults=True):
    """A ``LivePullToPushRunning`` callback (running, recovering or offline)."""

    TaskId: str
    EventTime: str
    TaskStatus: int
    TaskInfo: TaskInfo
    Event: str = "LivePullToPushRunning"
    TaskInvalidReason: str | None = None


class ExitCallback(msgspec.Struct):
    """A ``LivePullToPushExit`` callback."""

    TaskId: str
    EventTime: str
    TaskExitTime: int
    TaskExitReason: str
    TaskInfo: TaskInfo
    Event: str = "LivePullToPushExit"


class Answer(msgspec.Struct, omit_defaults=True):
    """A successful API answer; each operation fills the fields it returns."""

    RequestId: str = ""
    RetCode: int | None = None
    Description: str | None = None
    TaskId: str | None = None
    TaskStatus: int | None = None
    TaskInfo: TaskInfo | None = None
    TaskInvalidReason: str | None = None
    TaskExitReason: str | None = None
    Total: int | None = None
    PageNumber: int | None = None
    PageSize: int | None = None
    TaskList: list[TaskState] | None = None


class ErrorAnswer(msgspec.Struct):
    """An error answer (HTTP 400) in the provider's shape."""

    RequestId: str
    Code: str
    Message: str


@dataclass
class SimulatedTask:
    """One pull-to-push task as the simulated provider keeps it."""

    task_id: str
    region: str
    info: TaskInfo
    status: int = RUNNING
    reason: str | None = None
    deleted: bool = False

    def describe(self) -> TaskState:
        """The task as ``DescribeLivePullToPush`` shows it."""
        return TaskState(
            TaskId=self.task_id,
            TaskStatus=self.status,
            TaskInfo=msgspec.structs.replace(self.info),
            TaskInvalidReason=self.reason if self.status == OFFLINE and self.reason else None,
            TaskExitReason=(self.reason or "TriggerByUser") if self.status == EXITED else None,
        )

    def callback(self) -> StatusCallback | ExitCallback:
        """The callback body for the task's current status."""
        now = int(time.time())
        info = msgspec.structs.replace(self.info)
        if self.status == EXITED:
            return ExitCallback(self.task_id, str(now), now, self.reason or "", info)
        reason = self.reason if self.status == OFFLINE and self.reason else None
        return StatusCallback(self.task_id, str(now), self.status, info, TaskInvalidReason=reason)


class SimulatedLive:
    """The simulated provider: an ASGI app (``app``) and the tasks behind it."""

    def __init__(self) -> None:
        self.tasks: dict[str, SimulatedTask] = {}
        self._sent: set[asyncio.Task[None]] = set()
        self.app = Starlette(routes=[Route("/", self._handle, methods=["GET", "POST"])])

    def live(self) -> list[SimulatedTask]:
        """Tasks not deleted, oldest first."""
        return [task for task in self.tasks.values() if not task.deleted]

    async def fail(self, task_id: str, reason: str = "PullStreamFailed") -> None:
        """Take a task offline (its source stopped) and send the callback, as the provider."""
        task = self.tasks[task_id]
        task.status, task.reason = OFFLINE, reason
        await self._send(task, delay=0.0)

    async def _handle(self, request: Request) -> Response:
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        action = request.headers.get("x-acs-action", "")
        request_id = str(uuid.uuid4()).upper()
        try:
            answer = await self._perform(action, params)
        except LookupError:
            error = ErrorAnswer(request_id, "CodeTaskNotExist", "Task does not exist.")
            return _json(error, 400)
        except ValueError as exc:
            return _json(ErrorAnswer(request_id, "InvalidParameter", str(exc)), 400)
        answer.RequestId = request_id
        return _json(answer, 200)

    async def _perform(self, action: str, params: dict[str, str]) -> Answer:
        if action == "CreateLivePullToPush":
            task = self._create(params)
            await self._send(task, delay=CALLBACK_DELAY_SECONDS)
            return _ok(task.task_id)
        if action == "DescribeLivePullToPushList":
            region, dst = params.get("Region"), params.get("DstUrl")
            found = [
                t.describe()
                for t in self.live()
                if t.region == region and (not dst or t.info.DstUrl == dst)
            ]
            return Answer(Total=len(found), PageNumber=1, PageSize=100, TaskList=found)
        task = self._find(params)
        if action == "DescribeLivePullToPush":
            return _ok(task.task_id, task.describe())
        if action == "DeleteLivePullToPush":
            task.deleted, task.status, task.reason = True, EXITED, "TriggerByUser"
        elif action == "StopLivePullToPush":
            task.status, task.reason = OFFLINE, "TriggerByUser"
        elif action == "RestartLivePullToPush":
            task.status, task.reason = RUNNING, None
        elif action == "UpdateLivePullToPush":
            if "CallbackUrl" in params:
                task.info.CallbackURL = params["CallbackUrl"]
            return _ok()
        else:
            raise ValueError(f"the demo's provider does not simulate {action or 'this call'}")
        await self._send(task, delay=CALLBACK_DELAY_SECONDS)
        return _ok(task.task_id)

    def _create(self, params: dict[str, str]) -> SimulatedTask:
        for name in ("Region", "SourceUrls", "DstUrl", "StartTime", "EndTime"):
            if not params.get(name):
                raise ValueError(f"{name} is mandatory for this action.")
        task_id = str(uuid.uuid4())
        try:
            sources = msgspec.json.decode(params["SourceUrls"], type=list[str])
        except msgspec.DecodeError:  # one URL, not a JSON array
            sources = [params["SourceUrls"]]
        info = TaskInfo(
            TaskId=task_id,
            DstUrl=params["DstUrl"],
            StartTime=params["StartTime"],
            EndTime=params["EndTime"],
            SourceUrls=sources,
            SourceType=params.get("SourceType") or "live",
            TaskName=params.get("TaskName"),
            CallbackURL=params.get("CallbackUrl", ""),
        )
        task = SimulatedTask(task_id, params["Region"], info)
        self.tasks[task_id] = task
        log.info("demo_task_created", task_id=task_id, dst_url=info.DstUrl)
        return task

    def _find(self, params: dict[str, str]) -> SimulatedTask:
        task = self.tasks.get(params.get("TaskId", ""))
        if task is None or task.deleted or task.region != params.get("Region"):
            raise LookupError(params.get("TaskId"))
        return task

    async def _send(self, task: SimulatedTask, *, delay: float) -> None:
        """POST the task's current callback to its CallbackURL (in the background)."""
        url, body = task.info.CallbackURL, msgspec.json.encode(task.callback())
        if not url:
            return

        async def post() -> None:
            await asyncio.sleep(delay)
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    await client.post(url, content=body, headers=_JSON_HEADERS)
            except httpx.HTTPError as exc:  # relaywarden down: the provider would retry
                log.warning("demo_callback_failed", task_id=task.task_id, error=str(exc))

        sent = asyncio.create_task(post())
        self._sent.add(sent)
        sent.add_done_callback(self._sent.discard)


def _ok(task_id: str | None = None, state: TaskState | None = None) -> Answer:
    """A successful answer of an operation on one task; Describe's carries its ``state``."""
    answer = Answer(RetCode=0, Description="OK", TaskId=task_id)
    if state is not None:
        answer.TaskStatus, answer.TaskInfo = state.TaskStatus, state.TaskInfo
        answer.TaskInvalidReason, answer.TaskExitReason = (
            state.TaskInvalidReason,
            state.TaskExitReason,
        )
    return answer


def _json(answer: Answer | ErrorAnswer, status: int) -> Response:
    return Response(msgspec.json.encode(answer), status, media_type="application/json")
