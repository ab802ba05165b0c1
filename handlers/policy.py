"""The pull-to-push configuration a relay keeps, read from a provider's ``TaskInfo``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import msgspec

from receiver.domain.relay import PullToPushSpec

__all__ = ["PULL_TO_PUSH_KEYS", "config_from_task_info", "format_provider_time"]

#: Parameters of CreateLivePullToPush that a relay keeps and re-sends on re-creation.
PULL_TO_PUSH_KEYS = tuple(f for f in PullToPushSpec.__struct_fields__ if f != "CallbackUrl")


def format_provider_time(moment: datetime) -> str:
    """An aware datetime in the provider's ``yyyy-MM-ddTHH:mm:ssZ`` form."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_from_task_info(task_info: Mapping[str, object], region: str) -> PullToPushSpec:
    """The relay configuration carried by a callback's or Describe's ``TaskInfo``.

    Values the provider sends as text where a number is meant (``"3"``) are converted;
    keys relaywarden does not keep, and values of another type, are dropped.
    """
    config: dict[str, object] = {"Region": region}
    for key in PULL_TO_PUSH_KEYS:
        value = task_info.get(key)
        if key == "Region" or value in (None, "", []):
            continue
        if key == "SourceUrls" and isinstance(value, str):  # sometimes JSON-encoded
            value = _decode_urls(value)
        try:
            msgspec.convert({key: value}, PullToPushSpec, strict=False)
        except msgspec.ValidationError:
            continue  # a value of an unexpected type: Describe fills it in later
        config[key] = value
    return msgspec.convert(config, PullToPushSpec, strict=False)


def _decode_urls(text: str) -> object:
    if not text.startswith("["):
        return [text]
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return [text]
