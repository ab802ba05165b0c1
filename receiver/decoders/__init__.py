"""Per-source decoders: a provider's callback body in, one normalized event out."""

from __future__ import annotations

from receiver.decoders.base import Malformed, Unrecognized

__all__ = ["Malformed", "Unrecognized"]
