"""The hardening part of the store interface: write health and paged task history.

Kept out of ``receiver.store.base`` (one interface module per concern, like
``receiver.store.healing_interface``); both SQL stores implement it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from receiver.domain.records import TaskDetail

__all__ = ["CommitHealth", "TaskPages"]


@runtime_checkable
class CommitHealth(Protocol):
    """A store that knows whether its writes commit (``/readyz`` reports it)."""

    @property
    def commit_failure(self) -> str | None:
        """Why writes fail now (disk full, a read-only file, a lost database); None while
        they commit. Set by a failing batch, cleared by the next batch that commits."""
        ...


@runtime_checkable
class TaskPages(Protocol):
    """A store that pages a task's event history (``GET /api/tasks/{provider}/{id}``)."""

    async def get_task_page(
        self, provider: str, task_id: str, *, limit: int, after: tuple[int, int] | None
    ) -> TaskDetail | None:
        """One task with at most ``limit`` of its events (provider-time order) after
        ``after`` (an event's ``(order_time_ms, id)``), and its jobs; None when unknown."""
        ...
