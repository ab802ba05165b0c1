"""The hardening part of the store interface: write health and bounded adoption.

Kept out of ``receiver.store.base`` (one interface module per concern, like
``receiver.store.healing_interface``); both SQL stores implement it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["CommitHealth"]


@runtime_checkable
class CommitHealth(Protocol):
    """A store that knows whether its writes commit (``/readyz`` reports it)."""

    @property
    def commit_failure(self) -> str | None:
        """Why writes fail now (disk full, a read-only file, a lost database); None while
        they commit. Set by a failing batch, cleared by the next batch that commits."""
        ...
