"""TRTC stream ingest actions: start the relay's ingest, restart it, stop every linked one.

StartStreamIngest is not idempotent: a start whose answer was lost and that is sent again
answers ``FailedOperation.TaskExist``. That is read as "started, TaskId unknown": the link
awaits its id from the next 701 callback whose TaskId no link owns, and only one relay per
SdkAppId awaits at a time (the others' starts wait), so that 701 can only be its.
"""

from __future__ import annotations

import msgspec
import structlog

from handlers.actions.common import Defer, Skip, is_code, task_id_of
from handlers.context import ActionContext
from handlers.outcome import Outcome, ProviderError
from receiver import metrics
from receiver.domain.plan import IngestUpdate
from receiver.domain.states import IngestState, RelayState

__all__ = ["await_ingest_id", "restart_ingest", "start_ingest", "stop_ingest", "stop_ingests"]

log = structlog.get_logger("relaywarden.actions")

_INGEST_FINISHED = ("FailedOperation.TaskFinished",)
_TASK_EXIST = ("FailedOperation.TaskExist",)
#: How long a start waits while another relay of its SdkAppId awaits an ingest id.
_AWAIT_TURN_SECONDS = 2.0


async def stop_ingests(ctx: ActionContext, relay_id: str) -> int:
    """Stop every live ingest linked to the relay; returns how many were stopped.

    One still awaiting its TaskId cannot be stopped yet: the 701 that names it finds the
    relay ended and has it stopped then.
    """
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


async def _live_ingests(ctx: ActionContext, relay_id: str) -> int:
    """How many linked ingests may be pushing (Describe checks those with an id)."""
    live = 0
    for link in await ctx.store.ingests_of(relay_id):
        if not link.state.live or (link.state is IngestState.STARTING and not link.task_id):
            continue  # stopped, or our own unanswered start (taken up again below)
        if not link.task_id:
            live += 1  # started, its id awaited or never known
            continue
        answer = await ctx.trtc.describe_stream_ingest(link.sdk_app_id, link.task_id)
        if answer.Status == "NotExist":
            await ctx.store.set_ingest_state(ctx.job, link.id, IngestState.STOPPED)
        else:
            live += 1
    return live


async def start_ingest(ctx: ActionContext) -> None:
    """Make sure the relay's ingest runs: check linked ones, start one when none is live."""
    relay = await ctx.relay()
    if relay is None or relay.state is not RelayState.ACTIVE:
        raise Skip("the relay is not active")
    params = relay.trtc_ingest
    if await _live_ingests(ctx, relay.id) or params is None:
        return
    link_id = await ctx.store.begin_ingest_start(ctx.job, relay.id, params.SdkAppId)
    if link_id is None:
        raise Defer(
            f"another relay awaits its ingest TaskId on SdkAppId {params.SdkAppId}",
            _AWAIT_TURN_SECONDS,
        )
    try:
        answer = await ctx.trtc.start_stream_ingest(msgspec.to_builtins(params))
    except ProviderError as error:
        if is_code(error, _TASK_EXIST):
            reason = (
                "StartStreamIngest answered FailedOperation.TaskExist (an earlier start's "
                "answer was lost): started, its TaskId awaited from a 701 callback"
            )
            await ctx.store.await_ingest_id(ctx.job, link_id, reason, ctx.ingest_id_wait_seconds)
            log.warning("ingest_id_awaited", relay_id=relay.id, link_id=link_id)
            return
        if error.outcome is Outcome.REJECTED:
            stopped = IngestUpdate(link_id, state=IngestState.STOPPED, reason=str(error))
            await ctx.store.update_ingest(ctx.job, stopped)
        raise
    task_id = task_id_of(answer, "trtc", "StartStreamIngest")
    running = IngestUpdate(link_id, task_id=task_id, state=IngestState.RUNNING, reason="")
    await ctx.store.update_ingest(ctx.job, running)
    log.info("ingest_started", relay_id=relay.id, ingest_task_id=task_id)


async def restart_ingest(ctx: ActionContext) -> None:
    """Stop an ingest that keeps failing to start, and start the relay's ingest again."""
    relay = await ctx.relay()
    if relay is None or relay.state is not RelayState.ACTIVE:
        raise Skip("the relay is not active")
    link = await ctx.store.get_ingest(int(ctx.job.payload["link"]))
    if link is not None and link.task_id and link.state.live:
        try:
            await ctx.trtc.stop_stream_ingest(link.sdk_app_id, link.task_id)
        except ProviderError as error:
            if not is_code(error, _INGEST_FINISHED):
                raise
        reason = str(ctx.job.payload.get("reason") or "restarted")
        await ctx.store.update_ingest(
            ctx.job, IngestUpdate(link.id, state=IngestState.STOPPED, reason=reason)
        )
    await start_ingest(ctx)


async def await_ingest_id(ctx: ActionContext) -> None:
    """The bound after a TaskExist start: no 701 named it, so it is ``ingest_unknown``."""
    link_id = int(ctx.job.payload["link"])
    reason = (
        f"no 701 callback named the ingest within {ctx.ingest_id_wait_seconds:g}s of the "
        "TaskExist answer: it may be running and cannot be stopped by relaywarden; find it "
        "in the TRTC console (same room and user) and stop it"
    )
    if not await ctx.store.give_up_ingest_id(ctx.job, link_id, reason):
        raise Skip("the ingest's TaskId arrived")
    metrics.ingests_unknown_total.inc()
    log.error("ingest_unknown", relay_id=ctx.job.relay_id, link_id=link_id)
