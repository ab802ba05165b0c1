"""A relay's re-creation policy and the pull-to-push configuration kept for it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from receiver.relay_model import RecreatePolicy

__all__ = [
    "PULL_TO_PUSH_KEYS",
    "RecreatePolicy",
    "config_from_task_info",
    "format_provider_time",
    "recent_attempts",
    "recreate_delay_seconds",
]

#: Parameters of CreateLivePullToPush that a relay keeps and re-sends on re-creation.
PULL_TO_PUSH_KEYS = (
    "Region",
    "TaskName",
    "SourceType",
    "SourceProtocol",
    "SourceUrls",
    "DstUrl",
    "StartTime",
    "EndTime",
    "RetryCount",
    "RetryInterval",
    "RepeatNumber",
    "FileIndex",
    "Offset",
)


def recent_attempts(attempts_ms: list[int], policy: RecreatePolicy, now_ms: int) -> list[int]:
    """The re-creation attempts that count against ``policy`` at ``now_ms``."""
    horizon = now_ms - policy.within_seconds * 1000
    return [t for t in attempts_ms if t > horizon]


def recreate_delay_seconds(previous_attempts: int, policy: RecreatePolicy) -> float:
    """Growing delay before the next attempt: none for the first, then doubling."""
    if previous_attempts <= 0:
        return 0.0
    delay = policy.base_delay_seconds * 2 ** (previous_attempts - 1)
    return float(min(delay, policy.max_delay_seconds))


def format_provider_time(moment: datetime) -> str:
    """An aware datetime in the provider's ``yyyy-MM-ddTHH:mm:ssZ`` form."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_from_task_info(task_info: dict[str, Any], region: str) -> dict[str, Any]:
    """The relay configuration carried by a callback's or Describe's ``TaskInfo``."""
    config: dict[str, Any] = {"Region": region}
    for key in PULL_TO_PUSH_KEYS:
        if key != "Region" and task_info.get(key) not in (None, "", []):
            config[key] = task_info[key]
    urls = config.get("SourceUrls")
    if isinstance(urls, str):  # some answers carry the array JSON-encoded
        config["SourceUrls"] = [
            u for u in (msgspec.json.decode(urls) if urls.startswith("[") else [urls])
        ]
    return config
