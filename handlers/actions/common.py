"""What every action shares: the Skip and Defer signals and reading provider answers."""

from __future__ import annotations

from handlers.context import ActionContext
from handlers.outcome import Outcome, ProviderError
from handlers.provider_answers import TaskCreated
from receiver.domain.relay import Relay

__all__ = ["Defer", "Skip", "is_code", "relay_to_release", "task_id_of"]


class Skip(Exception):
    """Nothing to do for this job (the relay moved on); the job is ``skipped``."""


class Defer(Exception):
    """Not yet: run the job again after ``seconds`` without using up an attempt."""

    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.seconds = seconds


def task_id_of(answer: TaskCreated, provider: str, api: str) -> str:
    """The ``TaskId`` a successful start/create answer carries (retryable when it has none)."""
    task_id = answer.TaskId
    if not task_id:
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
