"""What a per-relay callback token may speak for.

The main callback token speaks for every task. A relay's own token (minted into the
CallbackUrl of the tasks relaywarden creates for it, ``token=<relay token>&relay=<id>``)
speaks only for that relay: for a task linked to it (any generation), or for a task linked
to no relay while the relay is itself waiting for its task id (its Create was sent and the
id is not recorded yet, the callback that beats the job recording it). Anything else is
refused with 401 and nothing is stored: a leaked per-relay URL can neither end another
relay nor make an unlinked task its own.

The rule needs the task's link, which only the store transaction sees, so both callback
write paths (the SQLite batch and the one-event transaction) apply it and raise
``OutOfScope``; the callback route answers 401.
"""

from __future__ import annotations

__all__ = ["OutOfScope", "relay_may_speak_for"]


class OutOfScope(Exception):
    """A per-relay token was used for a task that is not its relay's."""

    def __init__(self, relay_id: str, task_id: str) -> None:
        super().__init__(f"relay {relay_id}'s token does not cover task {task_id}")
        self.relay_id = relay_id
        self.task_id = task_id


def relay_may_speak_for(scope_relay: str, linked_relay: str | None, awaiting_id: bool) -> bool:
    """True when ``scope_relay``'s token may report on a task.

    ``linked_relay`` is the relay the task is linked to (None: no relay); ``awaiting_id``
    says whether ``scope_relay`` has sent a Create whose task id is not recorded yet.
    """
    if linked_relay is not None:
        return linked_relay == scope_relay
    return awaiting_id
