"""Alibaba pull-to-push actions: create, adopt, re-create and delete a relay's task.

Each is idempotent: a run repeated after a crash or a lost answer finds the work done, or
finishes it, and never doubles it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import structlog

from handlers.actions.artc import stop_relay_transcode
from handlers.actions.common import Skip, is_code, task_id_of
from handlers.actions.oss import disable_relay_channel, with_destination
from handlers.actions.trtc import stop_ingests
from handlers.aliyun_client import is_dst_url_conflict
from handlers.context import ActionContext
from handlers.outcome import Outcome, ProviderError
from handlers.policy import config_from_task_info, format_provider_time
from receiver import metrics
from receiver.domain.relay import PullToPushSpec, Relay, missing_config_keys, parse_provider_time
from receiver.domain.states import RelayState
from receiver.store.rows import now_ms

__all__ = ["adopt_task", "create_task", "delete_task", "recreate"]

log = structlog.get_logger("relaywarden.actions")

_TASK_GONE = ("CodeTaskNotExist", "TaskNotExist", "InvalidTask.NotFound")


def _create_params(relay: Relay, ctx: ActionContext, *, start_now: bool) -> PullToPushSpec:
    """The CreateLivePullToPush parameters: the kept config, our CallbackUrl, a due start."""
    config = relay.pull_to_push
    now = datetime.now(UTC)
    start = parse_provider_time(config.StartTime)
    if start_now or start is None or start < now:
        config = msgspec.structs.replace(config, StartTime=format_provider_time(now))
    return msgspec.structs.replace(
        config, Region=relay.region, CallbackUrl=ctx.callback_url(relay.id, relay.region)
    )


async def _find_live_task(
    ctx: ActionContext, region: str, dst_url: str, exclude: str | None
) -> str | None:
    """The id of a task (not ``exclude``, not exited) that pushes to ``dst_url``, if any."""
    listing = await ctx.aliyun.describe_live_pull_to_push_list(region, dst_url=dst_url)
    for item in listing.get("TaskList") or []:
        info = item.get("TaskInfo") or item
        dst = info.get("DstUrl") or item.get("DstUrl")
        found = item.get("TaskId") or info.get("TaskId")
        if (
            dst == dst_url
            and str(item.get("TaskStatus")) != "-1"
            and isinstance(found, str)
            and found
            and found != exclude
        ):
            return found
    return None


async def _create_or_find(
    ctx: ActionContext, relay: Relay, params: PullToPushSpec, *, replaces: str | None = None
) -> str:
    """CreateLivePullToPush exactly once in effect.

    Before sending Create, the job notes that it did. A re-run of the job (its answer was
    lost to a timeout, a 5xx after the provider acted, or a crash) first looks for a live
    task with the relay's DstUrl and adopts it instead of creating a second one. The
    provider may also refuse the DstUrl as taken (unconfirmed whether it does): the same
    look-up resolves that. ``replaces`` is the task being re-created, never adopted.
    """
    region, dst_url = relay.region, str(params.DstUrl)
    if ctx.job.payload.get("create_sent"):
        found = await _find_live_task(ctx, region, dst_url, replaces)
        if found is not None:
            log.info("create_found_existing_task", relay_id=relay.id, task_id=found)
            return found
    else:
        await ctx.store.mark_create_sent(ctx.job)
    try:
        answer = await ctx.aliyun.create_live_pull_to_push(msgspec.to_builtins(params))
    except ProviderError as error:
        if not is_dst_url_conflict(error):
            raise
        found = await _find_live_task(ctx, region, dst_url, replaces)
        if found is None:
            raise ProviderError(
                "aliyun",
                "CreateLivePullToPush",
                Outcome.RETRYABLE,
                "DstUrlConflict",
                "the DstUrl is taken but no live task with it was found; will look again",
            ) from None
        log.info("create_found_existing_task", relay_id=relay.id, task_id=found)
        return found
    return task_id_of(answer, "aliyun", "CreateLivePullToPush")


async def create_task(ctx: ActionContext) -> None:
    """Create the first task of a relay declared with ``pull_to_push``."""
    relay = await ctx.relay()
    if relay is None or not relay.state.managed or relay.current_task_id:
        raise Skip("the relay has a task already or is no longer managed")
    relay = await with_destination(ctx, relay)
    task_id = await _create_or_find(ctx, relay, _create_params(relay, ctx, start_now=False))
    generation = await ctx.store.record_new_task(ctx.job, relay.id, task_id)
    log.info("task_created", relay_id=relay.id, task_id=task_id, generation=generation)


async def adopt_task(ctx: ActionContext) -> None:
    """Read an existing task's configuration with DescribeLivePullToPush and keep it."""
    relay = await ctx.relay()
    if relay is None or relay.state in (RelayState.DELETING, RelayState.DELETED):
        raise Skip("the relay is no longer managed")
    task_id = ctx.payload_task_id()
    if relay.state is not RelayState.PENDING and relay.current_task_id != task_id:
        raise Skip("the relay moved on to another task (a re-creation read the config)")
    region = str(ctx.job.payload.get("region") or relay.region)
    answer = await ctx.aliyun.describe_live_pull_to_push(region, task_id)
    described = config_from_task_info(answer.get("TaskInfo") or answer, region)
    exited = str(answer.get("TaskStatus")) == "-1"
    await ctx.store.record_adopted_config(ctx.job, relay.id, task_id, described, exited=exited)


async def _complete_config(ctx: ActionContext, relay: Relay, task_id: str) -> Relay:
    """Read the configuration an adopted relay still lacks, before anything is deleted.

    A relay adopted from a callback with a bare TaskInfo gets its configuration from an
    ``adopt_task`` job; a re-creation that runs first (that job throttled, failed or not yet
    due) must not delete the only task the configuration can still be read from.
    """
    answer = await ctx.aliyun.describe_live_pull_to_push(relay.region, task_id)
    described = config_from_task_info(answer.get("TaskInfo") or answer, relay.region)
    config = relay.pull_to_push.merged(described)
    missing = missing_config_keys(config)
    if missing:
        raise ProviderError(
            "aliyun",
            "DescribeLivePullToPush",
            Outcome.REJECTED,
            "IncompleteTaskInfo",
            f"cannot re-create task {task_id}: its configuration lacks {', '.join(missing)}",
        )
    await ctx.store.save_config(ctx.job, relay.id, config)
    return msgspec.structs.replace(relay, pull_to_push=config)


async def _delete_task(ctx: ActionContext, region: str, task_id: str) -> None:
    try:
        await ctx.aliyun.delete_live_pull_to_push(region, task_id)
    except ProviderError as error:
        if not is_code(error, _TASK_GONE):
            raise


async def recreate(ctx: ActionContext) -> None:
    """Delete the task the provider gave up on and create it again."""
    relay = await ctx.relay()
    old_task = ctx.payload_task_id()
    if relay is None or relay.state is not RelayState.ACTIVE or relay.current_task_id != old_task:
        raise Skip("the relay moved on since this job was planned")
    if relay.missing_config():
        relay = await _complete_config(ctx, relay, old_task)
    policy, now = relay.recreate, now_ms()
    if policy.too_close_to_end(parse_provider_time(relay.pull_to_push.EndTime), now):
        raise Skip("the relay's EndTime is too close for a new task")
    if not await ctx.store.start_recreate_attempt(ctx.job, relay.id, old_task, policy, now):
        metrics.recreations_total.labels("gave_up").inc()
        log.warning("recreate_gave_up", relay_id=relay.id, task_id=old_task)
        return
    await _delete_task(ctx, relay.region, old_task)
    relay = await with_destination(ctx, relay)
    params = _create_params(relay, ctx, start_now=True)
    task_id = await _create_or_find(ctx, relay, params, replaces=old_task)
    generation = await ctx.store.record_new_task(ctx.job, relay.id, task_id)
    metrics.recreations_total.labels("created").inc()
    log.info(
        "task_recreated",
        relay_id=relay.id,
        old_task_id=old_task,
        task_id=task_id,
        generation=generation,
    )


async def delete_task(ctx: ActionContext) -> None:
    """Stop managing a relay: delete its current task and stop its ingests."""
    relay = await ctx.relay()
    if relay is None or relay.state is RelayState.DELETED:
        raise Skip("the relay is deleted already")
    task_id = relay.current_task_id
    if task_id:
        await ctx.store.retire_task(ctx.job, task_id)
        await _delete_task(ctx, relay.region, task_id)
    await stop_ingests(ctx, relay.id)
    await stop_relay_transcode(ctx, relay)
    await disable_relay_channel(ctx, relay)
    await ctx.store.set_relay_state(ctx.job, relay.id, RelayState.DELETED)
