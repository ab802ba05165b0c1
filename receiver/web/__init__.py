"""The status page: server-rendered HTML over the store, same authentication as ``/api``."""

from __future__ import annotations

from receiver.web.pages import web_routes

__all__ = ["web_routes"]
