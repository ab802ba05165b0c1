"""The provider answers relaywarden reads, as Structs: decoded once, at the client's edge.

Each type names only the fields relaywarden uses, with the provider's spelling; other fields
are ignored, so an answer that grows new fields still decodes. A field of the wrong JSON type
makes the whole answer unreadable, which the clients report as a retryable
``InvalidResponse`` like any other answer that is not the API's (see
``ProviderHttpClient._decode``). ``TaskInfo`` stays an open mapping of JSON values: its keys
and their types vary by source type and arrive as text where numbers are meant, and
:func:`handlers.policy.config_from_task_info` reads it leniently into a ``PullToPushSpec``.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "AliyunHead",
    "Answer",
    "IngestStatus",
    "PullToPushList",
    "PullToPushTask",
    "TaskCreated",
    "TranscodeAnswer",
    "TranscodeInfo",
    "TranscodeOutputEcho",
    "TrtcEnvelope",
    "TrtcError",
    "TrtcHead",
    "WhipAnswer",
]


class Answer(msgspec.Struct):
    """A successful answer of which relaywarden reads nothing (Stop, Delete, Update …)."""


class AliyunHead(msgspec.Struct):
    """What every Live OpenAPI answer may carry besides its operation's fields.

    Loosely typed on purpose: they are only shown (as text) in errors, and an error answer
    must stay readable whatever a proxy or a broken gateway puts in them.
    """

    RequestId: object = None
    RetCode: object = None
    Description: object = None
    Code: object = None
    Message: object = None


class TaskCreated(msgspec.Struct):
    """CreateLivePullToPush, StartStreamIngest, StartRtcCloudTranscode: the new ``TaskId``
    (empty when the answer lacks it, which the callers treat as an error)."""

    TaskId: str = ""


class PullToPushTask(msgspec.Struct):
    """DescribeLivePullToPush, and each ``TaskList`` item of the list operation.

    ``TaskStatus``: 0 idle, 1 running, 2 recovering, 3 offline, -1 exited (sometimes text).
    """

    TaskId: str | None = None
    TaskStatus: int | str | None = None
    TaskInfo: dict[str, object] | None = None
    TaskExitReason: str | None = None
    TaskInvalidReason: str | None = None

    @property
    def info(self) -> dict[str, object]:
        """The task's configuration (empty when the answer carries none)."""
        return self.TaskInfo or {}

    @property
    def status_code(self) -> int | None:
        """``TaskStatus`` as a number, or None when absent or not one."""
        try:
            return int(str(self.TaskStatus))
        except ValueError:
            return None

    @property
    def task_id(self) -> str | None:
        """The task's id, from the item or else from its ``TaskInfo``."""
        found = self.TaskId or self.info.get("TaskId")
        return found if isinstance(found, str) and found else None


class PullToPushList(msgspec.Struct):
    """DescribeLivePullToPushList: one page of tasks and how many match in all."""

    TaskList: list[PullToPushTask] | None = None
    Total: int | None = None

    @property
    def tasks(self) -> list[PullToPushTask]:
        """The page's tasks (empty when the answer lists none)."""
        return self.TaskList or []


class TrtcError(msgspec.Struct):
    """``Response.Error`` of a TRTC API 3.0 answer."""

    Code: object = None
    Message: object = None


class TrtcHead(msgspec.Struct):
    """What every TRTC ``Response`` carries: its request id and, on failure, the error."""

    RequestId: object = None
    Error: TrtcError | None = None


class TrtcEnvelope(msgspec.Struct):
    """A TRTC answer: everything sits in ``Response`` (read once the head says success)."""

    Response: msgspec.Raw = msgspec.Raw()


class IngestStatus(msgspec.Struct):
    """DescribeStreamIngest (``InProgress`` or ``NotExist``) and UpdateStreamIngest."""

    Status: str | None = None


class TranscodeOutputEcho(msgspec.Struct):
    """One output as DescribeRtcCloudTranscode echoes it, without its ``UserToken``.

    The provider echoes the token; not naming it here is what drops it from the answer.
    """

    ChannelId: str | None = None
    UserId: str | None = None
    TranscodeTemplate: str | None = None


class TranscodeInfo(msgspec.Struct):
    """DescribeRtcCloudTranscode's ``TaskInfo``; the client checks ``Status`` is known."""

    Status: str | None = None
    OutputParams: list[TranscodeOutputEcho] | None = None


class TranscodeAnswer(msgspec.Struct):
    """DescribeRtcCloudTranscode."""

    TaskInfo: TranscodeInfo | None = None


class WhipAnswer(msgspec.Struct):
    """CreateRTCWhipStreamAddress: the WHIP ingest URL (a secret)."""

    WhipAddress: str = ""
