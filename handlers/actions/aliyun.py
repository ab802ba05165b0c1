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
from handlers.actions.regions import TASK_GONE, known_region, locate_task
from handlers.actions.trtc import stop_ingests
from handlers.aliyun_client import CONFIG_EXISTS_CODE, is_dst_url_conflict
from handlers.context import ActionContext
from handlers.outcome import Outcome, ProviderError
from handlers.policy import config_from_task_info, format_provider_time
from handlers.provider_answers import PullToPushTask
from receiver import metrics
from receiver.domain.relay import PullToPushSpec, Relay, missing_config_keys, parse_provider_time
from receiver.domain.states import RelayState
from receiver.store.rows import now_ms

__all__ = ["adopt_task", "create_task", "delete_task", "recreate"]

log = structlog.get_logger("relaywarden.actions")


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
) -> tuple[str, PullToPushTask] | None:
    """The id and list item of a task (not ``exclude``, not exited) pushing to ``dst_url``."""
    listing = await ctx.aliyun.describe_live_pull_to_push_list(region, dst_url=dst_url)
    for item in listing.tasks:
        found = item.task_id
        if (
            item.info.get("DstUrl") == dst_url
            and item.status_code != -1
            and found is not None
            and found != exclude
        ):
            return found, item
    return None


def _is_relays(found: PullToPushTask, relay: Relay) -> bool:
    """True when a found task pulls the relay's sources to its DstUrl (adopting it is safe)."""
    own = relay.pull_to_push
    urls = config_from_task_info(found.info, relay.region).SourceUrls
    return found.info.get("DstUrl") == own.DstUrl and urls == own.SourceUrls


async def _adopt_found(
    ctx: ActionContext, relay: Relay, region: str, dst_url: str, replaces: str | None
) -> str | None:
    """The id of the relay's own live task at ``dst_url``; fails the job if it is another's."""
    live = await _find_live_task(ctx, region, dst_url, replaces)
    if live is None:
        return None
    task_id, found = live
    if not _is_relays(found, relay):
        raise ProviderError(
            "aliyun",
            "CreateLivePullToPush",
            Outcome.REJECTED,
            CONFIG_EXISTS_CODE,
            f"the DstUrl is used by task {task_id}, whose SourceUrls are not this "
            "relay's: delete that task or give the relay another DstUrl",
        )
    log.info("create_found_existing_task", relay_id=relay.id, task_id=task_id)
    return task_id


async def _create_or_find(
    ctx: ActionContext, relay: Relay, params: PullToPushSpec, *, replaces: str | None = None
) -> str:
    """CreateLivePullToPush exactly once in effect.

    Before sending Create, the job notes that it did. A re-run of the job (its answer was
    lost to a timeout, a 5xx after the provider acted, or a crash) first looks for a live
    task with the relay's DstUrl and adopts it instead of creating a second one. The
    provider refuses a DstUrl that a task holds with ``CodeConfigAlreadyExists``: the same
    look-up adopts that task when its SourceUrls are the relay's and fails the relay when
    they are not; when no task is listed the refusal is the provider still propagating a
    Delete, and the job retries with backoff. ``replaces`` is never adopted.
    """
    region, dst_url = relay.region, str(params.DstUrl)
    if ctx.job.payload.get("create_sent"):
        found = await _adopt_found(ctx, relay, region, dst_url, replaces)
        if found is not None:
            return found
    else:
        await ctx.store.mark_create_sent(ctx.job)
    try:
        answer = await ctx.aliyun.create_live_pull_to_push(msgspec.to_builtins(params))
    except ProviderError as error:
        if not is_dst_url_conflict(error):
            raise
        found = await _adopt_found(ctx, relay, region, dst_url, replaces)
        if found is None:
            raise ProviderError(
                "aliyun",
                "CreateLivePullToPush",
                Outcome.RETRYABLE,
                error.code,
                "the DstUrl is still held but no live task has it (a deletion propagating); "
                "will try again",
            ) from None
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
    given = ctx.job.payload.get("region")
    if given:
        region, answer = str(given), await ctx.aliyun.describe_live_pull_to_push(given, task_id)
    else:  # a callback that named no region: look in each configured one
        found = await locate_task(ctx, task_id, relay.region)
        if found is None:
            raise ProviderError(
                "aliyun",
                "DescribeLivePullToPush",
                Outcome.REJECTED,
                "CodeTaskNotExist",
                f"task {task_id} is in none of the regions "
                f"{', '.join(ctx.regions or (relay.region,))} (RELAYWARDEN_ALIYUN_REGIONS)",
            )
        region, answer = found
        await ctx.store.record_task_region(ctx.job, relay.id, task_id, region)
    described = config_from_task_info(answer.info, region)
    exited = answer.status_code == -1
    await ctx.store.record_adopted_config(ctx.job, relay.id, task_id, described, exited=exited)


async def _complete_config(ctx: ActionContext, relay: Relay, task_id: str) -> Relay:
    """Read the configuration an adopted relay still lacks, before anything is deleted.

    A relay adopted from a callback with a bare TaskInfo gets its configuration from an
    ``adopt_task`` job; a re-creation that runs first (that job throttled, failed or not yet
    due) must not delete the only task the configuration can still be read from.
    """
    answer = await ctx.aliyun.describe_live_pull_to_push(relay.region, task_id)
    described = config_from_task_info(answer.info, relay.region)
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
    """Delete a task in its own region, where "does not exist" means it is gone."""
    try:
        await ctx.aliyun.delete_live_pull_to_push(region, task_id)
    except ProviderError as error:
        if not is_code(error, TASK_GONE):
            raise


async def _in_task_region(ctx: ActionContext, relay: Relay, task_id: str) -> Relay:
    """The relay in its current task's region (found if need be).

    A task found in no configured region may still run in another: re-creating it would
    leave two billed tasks, so the job fails with what to configure.
    """
    region = await known_region(ctx, relay, task_id)
    if region is None:
        raise ProviderError(
            "aliyun",
            "DescribeLivePullToPush",
            Outcome.REJECTED,
            "CodeTaskNotExist",
            f"task {task_id} is in none of the regions {', '.join(ctx.regions)}; not "
            "re-created, as it may run in another: add its region to RELAYWARDEN_ALIYUN_REGIONS",
        )
    if region == relay.region:
        return relay
    config = relay.pull_to_push.merged(PullToPushSpec(Region=region))
    return msgspec.structs.replace(relay, region=region, pull_to_push=config)


async def recreate(ctx: ActionContext) -> None:
    """Delete the task the provider gave up on and create it again."""
    relay = await ctx.relay()
    old_task = ctx.payload_task_id()
    if relay is None or relay.state is not RelayState.ACTIVE or relay.current_task_id != old_task:
        raise Skip("the relay moved on since this job was planned")
    relay = await _in_task_region(ctx, relay, old_task)
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
        region = await known_region(ctx, relay, task_id)
        if region is not None:
            await _delete_task(ctx, region, task_id)
    await stop_ingests(ctx, relay.id)
    await stop_relay_transcode(ctx, relay)
    await disable_relay_channel(ctx, relay)
    await ctx.store.set_relay_state(ctx.job, relay.id, RelayState.DELETED)
