"""TRTC stream ingest actions: start the relay's ingest, stop every linked one."""

from __future__ import annotations

import msgspec
import structlog

from handlers.actions.common import Skip, is_code, task_id_of
from handlers.context import ActionContext
from handlers.outcome import ProviderError
from receiver.domain.states import IngestState, RelayState

__all__ = ["start_ingest", "stop_ingest", "stop_ingests"]

log = structlog.get_logger("relaywarden.actions")

_INGEST_FINISHED = ("FailedOperation.TaskFinished",)


async def stop_ingests(ctx: ActionContext, relay_id: str) -> int:
    """Stop every live ingest linked to the relay; returns how many were stopped."""
    stopped = 0
    for link in await ctx.store.ingests_of(relay_id):
        if not link.state.live or not link.task_id:
            continue
        try:
            await ctx.trtc.stop_stream_ingest(link.sdk_app_id, link.task_id)
        except ProviderError as error:
            if not is_code(error, _INGEST_FINISHED):
                raise
        await ctx.store.set_ingest_state(ctx.job, link.id, IngestState.STOPPED)
        stopped += 1
    return stopped


async def stop_ingest(ctx: ActionContext) -> None:
    """Stop every TRTC ingest linked to the relay (an ended task counts as stopped)."""
    if ctx.job.relay_id is None:
        raise Skip("no relay")
    count = await stop_ingests(ctx, ctx.job.relay_id)
    log.info("ingests_stopped", relay_id=ctx.job.relay_id, count=count)


async def start_ingest(ctx: ActionContext) -> None:
    """Make sure the relay's ingest runs: check linked ones, start one when none is live."""
    relay = await ctx.relay()
    if relay is None or relay.state is not RelayState.ACTIVE:
        raise Skip("the relay is not active")
    live = 0
    for link in await ctx.store.ingests_of(relay.id):
        if not link.state.live or not link.task_id:
            continue
        answer = await ctx.trtc.describe_stream_ingest(link.sdk_app_id, link.task_id)
        if answer.get("Status") == "NotExist":
            await ctx.store.set_ingest_state(ctx.job, link.id, IngestState.STOPPED)
        else:
            live += 1
    params = relay.trtc_ingest
    if live or params is None:
        return
    answer = await ctx.trtc.start_stream_ingest(msgspec.to_builtins(params))
    task_id = task_id_of(answer, "trtc", "StartStreamIngest")
    await ctx.store.add_ingest(ctx.job, relay.id, params.SdkAppId, task_id)
    log.info("ingest_started", relay_id=relay.id, ingest_task_id=task_id)
