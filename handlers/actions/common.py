"""What every action shares: the Skip signal and reading provider answers."""

from __future__ import annotations

from collections.abc import Mapping

from handlers.outcome import Outcome, ProviderError

__all__ = ["Skip", "is_code", "task_id_of"]


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
