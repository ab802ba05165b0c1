"""Which region an Alibaba task lives in: known from the store, else found by Describe.

A task lives in exactly one region, and every operation naming another answers
``CodeTaskNotExist``; so that answer means "gone" only from the task's own region. A task
adopted from a callback whose CallbackUrl names no region is looked for with
DescribeLivePullToPush in each region of ``RELAYWARDEN_ALIYUN_REGIONS``.
"""

from __future__ import annotations

import structlog

from handlers.actions.common import is_code
from handlers.context import ActionContext
from handlers.outcome import ProviderError
from handlers.provider_answers import PullToPushTask
from receiver.domain.relay import Relay

__all__ = ["TASK_GONE", "known_region", "locate_task"]

log = structlog.get_logger("relaywarden.actions")

#: Answers that say a task does not exist in the region asked.
TASK_GONE = ("CodeTaskNotExist", "TaskNotExist", "InvalidTask.NotFound")


async def locate_task(
    ctx: ActionContext, task_id: str, first: str | None = None
) -> tuple[str, PullToPushTask] | None:
    """The region holding ``task_id`` and its Describe answer, or None when none does.

    ``first`` (the likeliest region) is asked first; then every configured region.
    """
    candidates = [r for r in (first, *ctx.regions) if r]
    for region in dict.fromkeys(candidates):
        try:
            answer = await ctx.aliyun.describe_live_pull_to_push(region, task_id)
        except ProviderError as error:
            if is_code(error, TASK_GONE):
                continue
            raise
        return region, answer
    log.info("task_not_in_any_region", task_id=task_id, regions=list(dict.fromkeys(candidates)))
    return None


async def known_region(ctx: ActionContext, relay: Relay, task_id: str) -> str | None:
    """The region of one of the relay's tasks, found and kept if not known; None: gone."""
    link = await ctx.store.task_link(task_id)
    if link is not None and link.region:
        return link.region
    found = await locate_task(ctx, task_id, relay.region)
    if found is None:
        return None
    region = found[0]
    await ctx.store.record_task_region(ctx.job, relay.id, task_id, region)
    return region
