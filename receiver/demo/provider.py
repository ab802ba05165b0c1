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
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["SimulatedLive", "SimulatedTask"]

log = structlog.get_logger("relaywarden.demo")

#: Task statuses of Alibaba's pull-to-push callbacks.
RUNNING, OFFLINE, EXITED = 1, 3, -1
#: A created task's Running callback follows its API answer by this long, as at the provider
#: (relaywarden has recorded the new task id by then).
CALLBACK_DELAY_SECONDS = 0.3


@dataclass
class SimulatedTask:
    """One pull-to-push task as the simulated provider keeps it."""

    task_id: str
    region: str
    info: dict[str, Any]
    status: int = RUNNING
    reason: str | None = None
    deleted: bool = False

    def describe(self) -> dict[str, Any]:
        """The task as ``DescribeLivePullToPush`` shows it."""
        out: dict[str, Any] = {"TaskId": self.task_id, "TaskStatus": self.status}
        out["TaskInfo"] = dict(self.info)
        if self.status == OFFLINE and self.reason:
            out["TaskInvalidReason"] = self.reason
        if self.status == EXITED:
            out["TaskExitReason"] = self.reason or "TriggerByUser"
        return out

    def callback(self) -> dict[str, Any]:
        """The callback body for the task's current status."""
        body: dict[str, Any] = {"EventTime": str(int(time.time())), "TaskId": self.task_id}
        body["TaskInfo"] = dict(self.info)
        if self.status == EXITED:
            body.update(Event="LivePullToPushExit", TaskExitReason=self.reason or "")
            body["TaskExitTime"] = int(time.time())
        else:
            body.update(Event="LivePullToPushRunning", TaskStatus=self.status)
            if self.status == OFFLINE and self.reason:
                body["TaskInvalidReason"] = self.reason
        return body


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
            result = await self._perform(action, params)
        except LookupError:
            body = {"RequestId": request_id, "Code": "CodeTaskNotExist"}
            body["Message"] = "Task does not exist."
            return JSONResponse(body, status_code=400)
        except ValueError as exc:
            body = {"RequestId": request_id, "Code": "InvalidParameter", "Message": str(exc)}
            return JSONResponse(body, status_code=400)
        return JSONResponse({"RequestId": request_id, **result})

    async def _perform(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        ok: dict[str, Any] = {"RetCode": 0, "Description": "OK"}
        if action == "CreateLivePullToPush":
            task = self._create(params)
            await self._send(task, delay=CALLBACK_DELAY_SECONDS)
            return {**ok, "TaskId": task.task_id}
        if action == "DescribeLivePullToPushList":
            region, dst = params.get("Region"), params.get("DstUrl")
            found = [
                t.describe()
                for t in self.live()
                if t.region == region and (not dst or t.info["DstUrl"] == dst)
            ]
            return {"Total": len(found), "PageNumber": 1, "PageSize": 100, "TaskList": found}
        task = self._find(params)
        if action == "DescribeLivePullToPush":
            return {**ok, **task.describe()}
        if action == "DeleteLivePullToPush":
            task.deleted, task.status, task.reason = True, EXITED, "TriggerByUser"
        elif action == "StopLivePullToPush":
            task.status, task.reason = OFFLINE, "TriggerByUser"
        elif action == "RestartLivePullToPush":
            task.status, task.reason = RUNNING, None
        elif action == "UpdateLivePullToPush":
            if "CallbackUrl" in params:
                task.info["CallbackURL"] = params["CallbackUrl"]
            return ok
        else:
            raise ValueError(f"the demo's provider does not simulate {action or 'this call'}")
        await self._send(task, delay=CALLBACK_DELAY_SECONDS)
        return {**ok, "TaskId": task.task_id}

    def _create(self, params: dict[str, str]) -> SimulatedTask:
        for name in ("Region", "SourceUrls", "DstUrl", "StartTime", "EndTime"):
            if not params.get(name):
                raise ValueError(f"{name} is mandatory for this action.")
        task_id = str(uuid.uuid4())
        info: dict[str, Any] = {
            key: params.get(key) for key in ("TaskName", "StartTime", "EndTime", "DstUrl")
        }
        info.update(TaskId=task_id, CallbackURL=params.get("CallbackUrl", ""))
        info.update(SourceType=params.get("SourceType", "live"))
        try:
            info["SourceUrls"] = json.loads(params["SourceUrls"])
        except ValueError:  # one URL, not a JSON array
            info["SourceUrls"] = [params["SourceUrls"]]
        task = SimulatedTask(task_id, params["Region"], info)
        self.tasks[task_id] = task
        log.info("demo_task_created", task_id=task_id, dst_url=info["DstUrl"])
        return task

    def _find(self, params: dict[str, str]) -> SimulatedTask:
        task = self.tasks.get(params.get("TaskId", ""))
        if task is None or task.deleted or task.region != params.get("Region"):
            raise LookupError(params.get("TaskId"))
        return task

    async def _send(self, task: SimulatedTask, *, delay: float) -> None:
        """POST the task's current callback to its CallbackURL (in the background)."""
        url, body = str(task.info.get("CallbackURL") or ""), task.callback()
        if not url:
            return

        async def post() -> None:
            await asyncio.sleep(delay)
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    await client.post(url, json=body)
            except httpx.HTTPError as exc:  # relaywarden down: the provider would retry
                log.warning("demo_callback_failed", task_id=task.task_id, error=str(exc))

        sent = asyncio.create_task(post())
        self._sent.add(sent)
        sent.add_done_callback(self._sent.discard)
