"""What every action shares: the Skip signal and reading provider answers."""

from __future__ import annotations

from collections.abc import Mapping

from handlers.context import ActionContext
from handlers.outcome import Outcome, ProviderError
from receiver.domain.relay import Relay

__all__ = ["Skip", "is_code", "relay_to_release", "task_id_of"]


class Skip(Exception):
    """Nothing to do for this job (the relay moved on); the job counts as succeeded."""


def task_id_of(answer: Mapping[str, object], provider: str, api: str) -> str:
    """The ``TaskId`` a successful start/create answer carries (retryable when it has none)."""
    task_id = answer.get("TaskId")
    if not isinstance(task_id, str) or not task_id:
        raise ProviderError(
            provider, api, Outcome.RETRYABLE, "NoTaskId", "the answer had no TaskId"
        )
    return task_id


def is_code(error: ProviderError, codes: tuple[str, ...]) -> bool:
    """True when the provider's error code is one of ``codes`` or below one (``A.B``)."""
    return error.code in codes or any(error.code.startswith(c + ".") for c in codes)


async def relay_to_release(ctx: ActionContext, what: str) -> Relay:
    """The job's relay once it ended, failed or is being deleted; Skip while it is kept alive
    (a retried dead job made it managed again): then its ``what`` stays."""
    relay = await ctx.relay()
    if relay is None or relay.state.managed:
        raise Skip(f"the relay is kept alive (again): its {what} stays")
    return relay
