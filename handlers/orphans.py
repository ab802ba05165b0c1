"""Orphans: pull-to-push tasks whose CallbackUrl points at this service but no relay knows.

They appear when a Create's answer was lost and its job gave up, when the operator made
tasks while relaywarden was down, or when callbacks never arrived. Each reconciler sweep
lists every configured region (DescribeLivePullToPushList, paged). A live orphan is fed
through the callback path as a synthetic status event, so the rules that adopt a task
whose callback reaches relaywarden adopt it too; one whose CallbackUrl names a relay that
is no longer managed (failed, ended, deleted) is only shown: the operator decides.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import structlog

from handlers.aliyun_client import AliyunLiveClient
from handlers.provider_answers import PullToPushTask
from handlers.synthetic import describe_event
from receiver.logs import redact_url
from receiver.orphans import OrphanBoard, OrphanTask
from receiver.store.base import Store
from receiver.store.rows import now_ms
from receiver.views import iso_time

__all__ = ["OrphanFinder"]

log = structlog.get_logger("relaywarden.reconciler")

_PAGE_SIZE = 100
_MAX_PAGES = 100


class OrphanFinder:
    """Lists tasks calling back to ``callback_prefix`` and publishes those nobody knows."""

    def __init__(
        self,
        store: Store,
        aliyun: AliyunLiveClient,
        board: OrphanBoard,
        *,
        regions: tuple[str, ...],
        callback_prefix: str,
    ) -> None:
        self.store = store
        self.aliyun = aliyun
        self.board = board
        self.regions = regions
        self.callback_prefix = callback_prefix

    async def sweep(self) -> int:
        """List, publish and adopt; returns how many orphans were fed as events."""
        found: list[tuple[str, str, PullToPushTask]] = []
        for region in self.regions:
            found.extend((region, task_id, item) for task_id, item in await self._ours(region))
        known = await self.store.known_task_ids([task_id for _, task_id, _ in found])
        orphans: list[OrphanTask] = []
        fed = 0
        for region, task_id, item in found:
            if task_id in known or item.status_code == -1:
                continue  # a relay's, or exited: nothing runs, nothing is billed
            relay_id = _relay_param(item.info.get("CallbackURL"))
            adopted = await self._adopt(region, task_id, item, relay_id)
            fed += int(adopted)
            orphans.append(
                OrphanTask(
                    provider="aliyun",
                    region=region,
                    task_id=task_id,
                    status=item.status_code,
                    dst_url=_redacted(item.info.get("DstUrl")),
                    relay_id=relay_id,
                    adopted=adopted,
                    seen_at=iso_time(now_ms()),
                )
            )
        await self.board.replace(orphans, now_ms())
        if orphans:
            log.warning("orphans_found", count=len(orphans), adopted=fed)
        return fed

    async def _ours(self, region: str) -> list[tuple[str, PullToPushTask]]:
        """Every task of a region (with its id) whose CallbackUrl points at this service."""
        items: list[tuple[str, PullToPushTask]] = []
        for page in range(1, _MAX_PAGES + 1):
            listing = await self.aliyun.describe_live_pull_to_push_list(
                region, page_number=page, page_size=_PAGE_SIZE
            )
            batch = listing.tasks
            items.extend(
                (item.TaskId, item)
                for item in batch
                if item.TaskId
                and str(item.info.get("CallbackURL") or "").startswith(self.callback_prefix)
            )
            if len(batch) < _PAGE_SIZE:
                break
        return items

    async def _adopt(
        self, region: str, task_id: str, item: PullToPushTask, relay_id: str | None
    ) -> bool:
        """Feed a live orphan through the callback path; False when it is only shown."""
        if item.status_code is None:
            return False
        if relay_id is not None:
            relay = await self.store.get_relay(relay_id)
            if relay is None or not relay.state.managed:
                return False
        context = {"region": region, **({"relay": relay_id} if relay_id else {})}
        event = describe_event(task_id, item, context)
        if event is None:
            return False
        result = await self.store.ingest(event)
        return not result.duplicate


def _redacted(url: object) -> str | None:
    """A destination URL without the values of its signature parameters (auth_key …)."""
    return redact_url(url) if isinstance(url, str) else None


def _relay_param(url: object) -> str | None:
    if not isinstance(url, str):
        return None
    values = parse_qs(urlsplit(url).query).get("relay")
    return values[0] if values else None
