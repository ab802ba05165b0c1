"""ARTC cloud transcode actions: start it when the relay's task runs, stop it when it ends.

A StartRtcCloudTranscode whose answer is lost cannot be looked up (no list; Describe needs
the TaskId). So the relay records ``starting`` before the request goes out, and whoever
finds it ``starting`` (a re-run of the start, or the stop) re-sends the *identical* request:
its outputs join the channel under the declared output UserIds, which take the orphaned
job's outputs over, and the answer carries a TaskId that can be stopped. The orphan itself
ends ``MaxIdleTime`` seconds after the relay's source leaves the channel.
"""

from __future__ import annotations

import structlog

from handlers.actions.common import Skip, is_code, relay_to_release
from handlers.artc_client import (
    DEFAULT_MAX_IDLE,
    TranscodeJob,
    TranscodeOutput,
    TranscodeStatus,
    TranscodeTemplate,
)
from handlers.context import ActionContext
from handlers.outcome import ProviderError
from receiver.domain.relay import Relay
from receiver.domain.states import RelayState, TranscodeState

__all__ = ["start_transcode", "stop_relay_transcode", "stop_transcode", "transcode_job"]

log = structlog.get_logger("relaywarden.actions")

_JOB_GONE = ("NotFound", "ResourceNotExist")


def transcode_job(relay: Relay) -> TranscodeJob:
    """The StartRtcCloudTranscode request of the relay's declaration (always the same one)."""
    artc, spec = relay.artc, relay.artc_transcode
    if artc is None or spec is None:
        raise Skip("the relay declares no ARTC transcode")
    return TranscodeJob(
        app_id=artc.AppId,
        channel_id=artc.ChannelId,
        source_user_id=spec.UserId,
        outputs=tuple(
            TranscodeOutput(o.UserId, o.UserToken, TranscodeTemplate(o.TranscodeTemplate))
            for o in spec.OutputParams
        ),
        max_idle_time=spec.MaxIdleTime or DEFAULT_MAX_IDLE,
    )


async def _send_start(ctx: ActionContext, relay: Relay, request: TranscodeJob) -> str:
    await ctx.store.record_transcode(ctx.job, relay.id, TranscodeState.STARTING, None)
    task_id = await ctx.artc_client().start_transcode(request)
    await ctx.store.record_transcode(ctx.job, relay.id, TranscodeState.RUNNING, task_id)
    return task_id


async def start_transcode(ctx: ActionContext) -> None:
    """Make sure the relay's transcode runs: keep a live job, start one otherwise."""
    relay = await ctx.relay()
    if relay is None or relay.state is not RelayState.ACTIVE:
        raise Skip("the relay is not active")
    request = transcode_job(relay)
    artc = ctx.artc_client()
    if relay.transcode_state is TranscodeState.RUNNING and relay.transcode_task_id:
        try:
            info = await artc.describe_transcode(request.app_id, relay.transcode_task_id)
        except ProviderError as error:
            if not is_code(error, _JOB_GONE):
                raise
        else:
            if info.Status is not TranscodeStatus.STOPPED:
                return
    task_id = await _send_start(ctx, relay, request)
    log.info("transcode_started", relay_id=relay.id, transcode_task_id=task_id)


async def stop_relay_transcode(ctx: ActionContext, relay: Relay) -> bool:
    """Stop the relay's transcode job, if one may run; True when one was stopped here."""
    state, task_id = relay.transcode_state, relay.transcode_task_id
    if state is None or state is TranscodeState.STOPPED:
        return False
    request = transcode_job(relay)
    if state is TranscodeState.STARTING or not task_id:
        # The start's answer was lost: the identical start takes its outputs over and
        # answers with a TaskId we can stop.
        task_id = await _send_start(ctx, relay, request)
    try:
        await ctx.artc_client().stop_transcode(request.app_id, task_id)
    except ProviderError as error:
        if not is_code(error, _JOB_GONE):
            raise
    await ctx.store.record_transcode(ctx.job, relay.id, TranscodeState.STOPPED, task_id)
    log.info("transcode_stopped", relay_id=relay.id, transcode_task_id=task_id)
    return True


async def stop_transcode(ctx: ActionContext) -> None:
    """Stop the transcode of a relay that ended or failed (StopRtcCloudTranscode)."""
    await stop_relay_transcode(ctx, await relay_to_release(ctx, "transcode"))
