"""``relaywarden_build_info``: which relaywarden and Python a scrape target runs (value 1)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Gauge

from receiver.metrics import REGISTRY

__all__ = ["register_build_info", "relaywarden_version"]

_registered: set[int] = set()


def relaywarden_version() -> str:
    """The installed relaywarden version ("unknown" from a never-installed source tree)."""
    try:
        return version("relaywarden")
    except PackageNotFoundError:
        return "unknown"


def register_build_info(registry: CollectorRegistry = REGISTRY) -> None:
    """Add the gauge to ``registry`` once (later calls change nothing)."""
    if id(registry) in _registered:
        return
    gauge = Gauge(
        "relaywarden_build_info",
        "Always 1; the labels say which relaywarden and Python version this process runs.",
        ["version", "python"],
        registry=registry,
    )
    gauge.labels(relaywarden_version(), platform.python_version()).set(1)
    _registered.add(id(registry))
