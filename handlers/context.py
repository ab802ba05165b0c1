"""What an action gets to do its work: the job, the store, the provider clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlers.aliyun_client import AliyunLiveClient
from handlers.artc_client import ArtcClient
from handlers.oss_client import OssClient
from handlers.outcome import Outcome, ProviderError
from handlers.trtc_client import TrtcClient
from receiver.domain.relay import Relay
from receiver.store.base import ClaimedJob, Store

__all__ = ["ActionContext", "CallbackUrlFactory"]

#: Builds the CallbackUrl relaywarden registers for a relay's task (relay id, region).
CallbackUrlFactory = Callable[[str, str], str]


@dataclass
class ActionContext:
    """One run of one job. Writes go through the store's fenced methods with ``job``."""

    job: ClaimedJob
    store: Store
    aliyun: AliyunLiveClient
    trtc: TrtcClient
    callback_url: CallbackUrlFactory
    oss: OssClient | None = None
    artc: ArtcClient | None = None

    async def relay(self) -> Relay | None:
        """The job's relay as it is now (None for jobs without one, or a vanished relay)."""
        if self.job.relay_id is None:
            return None
        return await self.store.get_relay(self.job.relay_id)

    def payload_task_id(self) -> str:
        """The task the job is about: its payload's ``task_id``, else the job's own."""
        return str(self.job.payload.get("task_id") or self.job.task_id)

    def oss_client(self) -> OssClient:
        """The OSS client (a REJECTED error when this runner has none)."""
        if self.oss is None:
            raise ProviderError(
                "oss", "LiveChannel", Outcome.REJECTED, "NotConfigured", "no OSS client is set up"
            )
        return self.oss

    def artc_client(self) -> ArtcClient:
        """The ARTC client (a REJECTED error when this runner has none)."""
        if self.artc is None:
            raise ProviderError(
                "aliyun", "ARTC", Outcome.REJECTED, "NotConfigured", "no ARTC client is set up"
            )
        return self.artc
