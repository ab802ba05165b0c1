"""Composition root: the full app of ``relaywarden serve``, both halves wired together."""

from __future__ import annotations

import sys

from starlette.applications import Starlette

from receiver.app import create_app
from receiver.config import Settings
from receiver.runtime import Runtime

__all__ = ["build_app", "print_banner"]


def print_banner(runtime: Runtime) -> None:
    """Tell the operator which CallbackUrl to register (the one place a token is shown)."""
    trtc = (
        "enabled"
        if runtime.settings.trtc_callback_key
        else "refused until RELAYWARDEN_TRTC_CALLBACK_KEY is set"
    )
    print(
        "relaywarden is ready.\n"
        "  Register this CallbackUrl for Alibaba pull-to-push tasks:\n"
        f"    {runtime.callback_url()}\n"
        f"  TRTC callbacks: {runtime.settings.base_url}/callbacks/trtc ({trtc})",
        file=sys.stderr,
        flush=True,
    )


def build_app(settings: Settings) -> Starlette:
    """The app with everything ``serve`` runs."""
    return create_app(settings, on_ready=print_banner)
