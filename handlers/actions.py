"""The follow-up actions. Each is idempotent: a run repeated after a crash or a lost
answer finds the work done, or finishes it, and never doubles it.

An action returns normally when the job is done (including "nothing left to do") and
raises ``ProviderError`` (classified) or another exception when it is not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from handlers.aliyun_client import is_dst_url_conflict
from handlers.context import ActionContext
from handlers.outcome import Outcome, ProviderError
from handlers.policy import (
    PULL_TO_PUSH_KEYS,
    RecreatePolicy,
    config_from_task_info,
    format_provider_time,
    recent_attempts,
)
from receiver import metrics
from receiver.relay_model import missing_config_keys, parse_provider_time
from receiver.store.base import JobSpec
from receiver.store.jobs import enqueue_job
from receiver.store.relays import (
    add_ingest,
    attach_task,
    get_relay,
    ingests_of,
    retire_task,
    update_ingest,
    update_relay,
)
from receiver.store.rows import now_ms

__all__ = ["ACTIONS", "Action"]

log = structlog.get_logger("relaywarden.actions")

Action = Callable[[ActionContext], Awaitable[None]]

_TASK_GONE = ("CodeTaskNotExist", "TaskNotExist", "InvalidTask.NotFound")
_INGEST_FINISHED = ("FailedOperation.TaskFinished",)
_LIVE_INGEST_STATES = ("starting", "running")


class Skip(Exception):
    """Nothing to do for this job (the relay moved on); the job counts as succeeded."""


def _task_id_of(answer: dict[str, Any], provider: str, api: str) -> str:
    """The ``TaskId`` a successful start/create answer carries (retryable when it has none)."""
    task_id = answer.get("TaskId")
    if not isinstance(task_id, str) or not task_id:
        raise ProviderError(
            provider, api, Outcome.RETRYABLE, "NoTaskId", "the answer had no TaskId"
        )
    return task_id


def _is_code(error: ProviderError, codes: tuple[str, ...]) -> bool:
    return error.code in codes or any(error.code.startswith(c + ".") for c in codes)


# ----- Alibaba pull-to-push -------------------------------------------------------------


def _create_params(relay: dict[str, Any], ctx: ActionContext, *, start_now: bool) -> dict[str, Any]:
    config = relay["pull_to_push"]
    params = {key: config[key] for key in PULL_TO_PUSH_KEYS if key in config}
    now = datetime.now(UTC)
    start = parse_provider_time(config.get("StartTime"))
    if start_now or start is None or start < now:
        params["StartTime"] = format_provider_time(now)
    params["Region"] = relay["region"]
    params["CallbackUrl"] = ctx.callback_url(relay["id"], relay["region"])
    return params


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


def _mark_create_sent(job_id: int) -> Callable[[sqlite3.Connection], None]:
    def mark(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE jobs SET payload = json_set(payload, '$.create_sent', 1) WHERE id = ?",
            (job_id,),
        )

    return mark


async def _create_or_find(
    ctx: ActionContext,
    relay: dict[str, Any],
    params: dict[str, Any],
    *,
    replaces: str | None = None,
) -> str:
    """CreateLivePullToPush exactly once in effect.

    Before sending Create, the job notes that it did. A re-run of the job (its answer was
    lost to a timeout, a 5xx after the provider acted, or a crash) first looks for a live
    task with the relay's DstUrl and adopts it instead of creating a second one. The
    provider may also refuse the DstUrl as taken (unconfirmed whether it does): the same
    look-up resolves that. ``replaces`` is the task being re-created, never adopted.
    """
    region, dst_url = relay["region"], params["DstUrl"]
    if ctx.job.payload.get("create_sent"):
        found = await _find_live_task(ctx, region, dst_url, replaces)
        if found is not None:
            log.info("create_found_existing_task", relay_id=relay["id"], task_id=found)
            return found
    else:
        await ctx.checkpoint(_mark_create_sent(ctx.job.id))
    try:
        answer = await ctx.aliyun.create_live_pull_to_push(params)
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
        log.info("create_found_existing_task", relay_id=relay["id"], task_id=found)
        return found
    return _task_id_of(answer, "aliyun", "CreateLivePullToPush")


def _record_new_task(relay_id: str, task_id: str) -> Callable[[sqlite3.Connection], int]:
    def record(conn: sqlite3.Connection) -> int:
        relay = get_relay(conn, relay_id)
        assert relay is not None
        generation = int(relay["generation"])
        if relay["current_task_id"] != task_id:
            generation += 1
            update_relay(conn, relay_id, current_task_id=task_id, generation=generation)
        if relay["state"] == "pending":
            update_relay(conn, relay_id, state="active")
        attach_task(conn, relay_id, task_id, generation=generation)
        return generation

    return record


async def create_task(ctx: ActionContext) -> None:
    """Create the first task of a relay declared with ``pull_to_push``."""
    relay = await ctx.relay()
    if relay is None or relay["state"] not in ("pending", "active") or relay["current_task_id"]:
        raise Skip("the relay has a task already or is no longer managed")
    task_id = await _create_or_find(ctx, relay, _create_params(relay, ctx, start_now=False))
    generation = await ctx.checkpoint(_record_new_task(relay["id"], task_id))
    log.info("task_created", relay_id=relay["id"], task_id=task_id, generation=generation)


async def adopt_task(ctx: ActionContext) -> None:
    """Read an existing task's configuration with DescribeLivePullToPush and keep it."""
    relay = await ctx.relay()
    if relay is None or relay["state"] in ("deleting", "deleted"):
        raise Skip("the relay is no longer managed")
    task_id = str(ctx.job.payload.get("task_id") or ctx.job.task_id)
    if relay["state"] != "pending" and relay["current_task_id"] != task_id:
        raise Skip("the relay moved on to another task (a re-creation read the config)")
    region = str(ctx.job.payload.get("region") or relay["region"])
    answer = await ctx.aliyun.describe_live_pull_to_push(region, task_id)
    info = answer.get("TaskInfo") or answer
    described = config_from_task_info(info, region)
    relay_id = relay["id"]

    def record(conn: sqlite3.Connection) -> None:
        current = get_relay(conn, relay_id)
        assert current is not None
        config = {**current["pull_to_push"], **described}
        update_relay(conn, relay_id, pull_to_push=config)
        if current["current_task_id"] != task_id and current["state"] == "pending":
            _record_new_task(relay_id, task_id)(conn)
        if str(answer.get("TaskStatus")) == "-1" and current["state"] == "pending":
            update_relay(conn, relay_id, state="ended")

    await ctx.checkpoint(record)


async def _complete_config(
    ctx: ActionContext, relay: dict[str, Any], task_id: str
) -> dict[str, Any]:
    """Read the configuration an adopted relay still lacks, before anything is deleted.

    A relay adopted from a callback with a bare TaskInfo gets its configuration from an
    ``adopt_task`` job; a re-creation that runs first (that job throttled, failed or not yet
    due) must not delete the only task the configuration can still be read from.
    """
    answer = await ctx.aliyun.describe_live_pull_to_push(relay["region"], task_id)
    info = answer.get("TaskInfo") or answer
    config = {**relay["pull_to_push"], **config_from_task_info(info, relay["region"])}
    missing = missing_config_keys(config)
    if missing:
        raise ProviderError(
            "aliyun",
            "DescribeLivePullToPush",
            Outcome.REJECTED,
            "IncompleteTaskInfo",
            f"cannot re-create task {task_id}: its configuration lacks {', '.join(missing)}",
        )
    relay_id = relay["id"]
    await ctx.checkpoint(lambda conn: update_relay(conn, relay_id, pull_to_push=config))
    return {**relay, "pull_to_push": config}


async def _delete_task(ctx: ActionContext, region: str, task_id: str) -> None:
    try:
        await ctx.aliyun.delete_live_pull_to_push(region, task_id)
    except ProviderError as error:
        if not _is_code(error, _TASK_GONE):
            raise


async def recreate(ctx: ActionContext) -> None:
    """Delete the task the provider gave up on and create it again (design.md rules)."""
    relay = await ctx.relay()
    old_task = str(ctx.job.payload.get("task_id") or ctx.job.task_id)
    if relay is None or relay["state"] != "active" or relay["current_task_id"] != old_task:
        raise Skip("the relay moved on since this job was planned")
    if missing_config_keys(relay["pull_to_push"]):
        relay = await _complete_config(ctx, relay, old_task)
    policy = RecreatePolicy(**relay["recreate"])
    now = now_ms()
    end = parse_provider_time(relay["pull_to_push"].get("EndTime"))
    if end is not None and end.timestamp() * 1000 - now <= policy.min_remaining_seconds * 1000:
        raise Skip("the relay's EndTime is too close for a new task")
    relay_id = relay["id"]
    job = ctx.job

    def start_attempt(conn: sqlite3.Connection) -> bool:
        """Count this attempt once (a re-run after a crash does not count again)."""
        current = get_relay(conn, relay_id)
        assert current is not None
        if job.payload.get("counted"):
            return True  # a re-run of an attempt already counted
        attempts = recent_attempts(current["recreate_attempts"], policy, now)
        if len(attempts) >= policy.max_attempts:
            update_relay(
                conn,
                relay_id,
                state="failed",
                failure_reason=(
                    f"gave up re-creating after {len(attempts)} attempts within "
                    f"{policy.within_seconds}s (last reason: {job.payload.get('reason') or '?'})"
                ),
            )
            enqueue_job(
                conn,
                JobSpec(action="stop_ingest", relay_id=relay_id, payload={"reason": "failed"}),
                now=now_ms(),
            )
            return False
        update_relay(conn, relay_id, recreate_attempts=[*attempts, now])
        conn.execute(
            "UPDATE jobs SET payload = json_set(payload, '$.counted', 1) WHERE id = ?", (job.id,)
        )
        retire_task(conn, old_task)
        return True

    if not await ctx.checkpoint(start_attempt):
        metrics.recreations_total.labels("gave_up").inc()
        log.warning("recreate_gave_up", relay_id=relay_id, task_id=old_task)
        return
    await _delete_task(ctx, relay["region"], old_task)
    params = _create_params(relay, ctx, start_now=True)
    task_id = await _create_or_find(ctx, relay, params, replaces=old_task)
    generation = await ctx.checkpoint(_record_new_task(relay_id, task_id))
    metrics.recreations_total.labels("created").inc()
    log.info(
        "task_recreated",
        relay_id=relay_id,
        old_task_id=old_task,
        task_id=task_id,
        generation=generation,
    )


async def delete_task(ctx: ActionContext) -> None:
    """Stop managing a relay: delete its current task and stop its ingests."""
    relay = await ctx.relay()
    if relay is None or relay["state"] == "deleted":
        raise Skip("the relay is deleted already")
    task_id = relay["current_task_id"]
    if task_id:
        await ctx.checkpoint(lambda conn: retire_task(conn, task_id))
        await _delete_task(ctx, relay["region"], task_id)
    await _stop_ingests(ctx, relay["id"])
    await ctx.checkpoint(lambda conn: update_relay(conn, relay["id"], state="deleted"))


# ----- TRTC stream ingest ---------------------------------------------------------------


def _mark_ingest(ingest_id: int, state: str) -> Callable[[sqlite3.Connection], None]:
    def mark(conn: sqlite3.Connection) -> None:
        update_ingest(conn, ingest_id, state=state)

    return mark


async def _stop_ingests(ctx: ActionContext, relay_id: str) -> int:
    links = await ctx.store.read(lambda conn: ingests_of(conn, relay_id))
    stopped = 0
    for link in links:
        if link["state"] not in _LIVE_INGEST_STATES or not link["task_id"]:
            continue
        try:
            await ctx.trtc.stop_stream_ingest(int(link["sdk_app_id"]), str(link["task_id"]))
        except ProviderError as error:
            if not _is_code(error, _INGEST_FINISHED):
                raise
        await ctx.checkpoint(_mark_ingest(int(link["id"]), "stopped"))
        stopped += 1
    return stopped


async def stop_ingest(ctx: ActionContext) -> None:
    """Stop every TRTC ingest linked to the relay (an ended task counts as stopped)."""
    if ctx.job.relay_id is None:
        raise Skip("no relay")
    count = await _stop_ingests(ctx, ctx.job.relay_id)
    log.info("ingests_stopped", relay_id=ctx.job.relay_id, count=count)


async def start_ingest(ctx: ActionContext) -> None:
    """Make sure the relay's ingest runs: check linked ones, start one when none is live."""
    relay = await ctx.relay()
    if relay is None or relay["state"] != "active":
        raise Skip("the relay is not active")
    relay_id = relay["id"]
    links = await ctx.store.read(lambda conn: ingests_of(conn, relay_id))
    live = 0
    for link in links:
        if link["state"] not in _LIVE_INGEST_STATES or not link["task_id"]:
            continue
        answer = await ctx.trtc.describe_stream_ingest(
            int(link["sdk_app_id"]), str(link["task_id"])
        )
        if answer.get("Status") == "NotExist":
            await ctx.checkpoint(_mark_ingest(int(link["id"]), "stopped"))
        else:
            live += 1
    params = relay["trtc_ingest"]
    if live or not params:
        return
    answer = await ctx.trtc.start_stream_ingest(params)
    task_id = _task_id_of(answer, "trtc", "StartStreamIngest")
    sdk_app_id = int(params["SdkAppId"])
    await ctx.checkpoint(
        lambda conn: add_ingest(
            conn, relay_id, sdk_app_id=sdk_app_id, task_id=task_id, state="running", owned=True
        )
    )
    log.info("ingest_started", relay_id=relay_id, ingest_task_id=task_id)


#: Every action by the name jobs carry.
ACTIONS: dict[str, Action] = {
    "create_task": create_task,
    "adopt_task": adopt_task,
    "recreate": recreate,
    "delete_task": delete_task,
    "start_ingest": start_ingest,
    "stop_ingest": stop_ingest,
    "check_ingest": start_ingest,
}
