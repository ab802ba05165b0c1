"""Up-front checks of CreateLivePullToPush parameters against the provider's documented rules.

A spec the provider would refuse is answered 400 at once, with every problem listed, instead
of being accepted and failing later as a dead job. Pure functions: no provider is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from receiver.domain.relay import REQUIRED_CONFIG_KEYS, parse_provider_time

__all__ = [
    "LIVE_SOURCE_PROTOCOLS",
    "REGIONS",
    "SOURCE_TYPES",
    "params_from_task_info",
    "pull_to_push_problems",
]

REGIONS = frozenset(
    {"cn-beijing", "cn-shanghai", "cn-shenzhen", "ap-southeast-1", "ap-southeast-5"}
)
SOURCE_TYPES = frozenset({"live", "vod", "url"})
LIVE_SOURCE_PROTOCOLS = frozenset({"rtmp", "srt", "http-flv", "hls"})
RETRY_INTERVAL_SECONDS = (60, 300)
MAX_SOURCE_URLS = 30
MAX_URL_LENGTH = 2000
_TIME_EXAMPLE = "2026-11-22T12:00:00Z"
#: Describe's TaskInfo keys that are no Create parameter (CallbackURL is relaywarden's own).
_NOT_PARAMETERS = frozenset({"TaskId", "CallbackURL", "CallbackUrl"})


def _integer(value: Any) -> int | None:
    """An integer given as a JSON number or a decimal string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _source_url_problems(urls: Any, source_type: Any) -> list[str]:
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        return ["SourceUrls must be a non-empty list of URLs"]
    if source_type == "live" and len(urls) != 1:
        return [f"SourceUrls of a live source holds exactly one URL, not {len(urls)}"]
    if len(urls) > MAX_SOURCE_URLS:
        return [f"SourceUrls holds at most {MAX_SOURCE_URLS} URLs, not {len(urls)}"]
    return []


def _time_problems(params: Mapping[str, Any], now: datetime) -> list[str]:
    problems: list[str] = []
    start = None
    if params.get("StartTime") not in (None, ""):
        start = parse_provider_time(params["StartTime"])
        if start is None:
            problems.append(f"StartTime must look like {_TIME_EXAMPLE}")
    if params.get("EndTime") in (None, ""):
        return problems
    end = parse_provider_time(params["EndTime"])
    if end is None:
        problems.append(f"EndTime must look like {_TIME_EXAMPLE}")
        return problems
    if start is not None and end <= start:
        problems.append("EndTime must be later than StartTime")
    if end <= now:
        problems.append("EndTime must be in the future")
    return problems


def _dst_url_problems(dst_url: Any) -> list[str]:
    if dst_url in (None, ""):
        return []  # reported as missing
    if not isinstance(dst_url, str):
        return ["DstUrl must be an rtmp:// URL"]
    parts = urlsplit(dst_url)
    if parts.scheme.lower() != "rtmp" or not parts.netloc or not parts.path.strip("/"):
        return ["DstUrl must be an rtmp:// URL with a host and a stream path"]
    if len(dst_url) > MAX_URL_LENGTH:
        return [f"DstUrl is longer than {MAX_URL_LENGTH} characters"]
    return []


def pull_to_push_problems(
    params: Mapping[str, Any], now: datetime, *, dst_url_given: bool = False
) -> list[str]:
    """Every reason the provider would refuse these CreateLivePullToPush parameters.

    ``params`` is the ``pull_to_push`` mapping as the API receives it (``SourceUrls`` a
    list); ``now`` an aware datetime. An empty list means the spec passes every documented
    rule. StartTime may be left out (relaywarden then starts the task now).
    ``dst_url_given``: relaywarden supplies the DstUrl at each creation (a relay with a
    ``destination``), so the declaration needs none.
    """
    problems = [
        f"{key} is required"
        for key in REQUIRED_CONFIG_KEYS
        if params.get(key) in (None, "", []) and not (key == "DstUrl" and dst_url_given)
    ]
    region = params.get("Region")
    if region not in (None, "") and region not in REGIONS:
        problems.append(f"Region must be one of {', '.join(sorted(REGIONS))}")
    source_type = params.get("SourceType")
    if source_type not in (None, "") and source_type not in SOURCE_TYPES:
        problems.append("SourceType must be live, vod or url")
    if params.get("SourceUrls") not in (None, "", []):
        problems += _source_url_problems(params["SourceUrls"], source_type)
    protocol = params.get("SourceProtocol")
    if source_type == "live" and protocol in (None, ""):
        problems.append("SourceProtocol is required for a live source (rtmp, srt, http-flv, hls)")
    elif source_type == "live" and protocol not in LIVE_SOURCE_PROTOCOLS:
        problems.append("SourceProtocol must be rtmp, srt, http-flv or hls")
    if params.get("RetryInterval") is not None:
        interval = _integer(params["RetryInterval"])
        low, high = RETRY_INTERVAL_SECONDS
        if interval is None or not low <= interval <= high:
            problems.append(f"RetryInterval must be a whole number of seconds in {low}-{high}")
    if params.get("Offset") is not None:
        if source_type == "live":
            problems.append("Offset applies to vod and url sources only, not to live")
        elif (offset := _integer(params["Offset"])) is None or offset < 0:
            problems.append("Offset must be a whole number of seconds, 0 or more")
    problems += _time_problems(params, now)
    problems += _dst_url_problems(params.get("DstUrl"))
    return problems


def params_from_task_info(task_info: Mapping[str, object]) -> dict[str, object]:
    """Create parameters that reproduce a task from Describe's ``TaskInfo`` (for adoption).

    Describe reports every key, unset ones as null or 0: an ``Offset`` of 0 and any Offset
    of a live source are dropped (Create refuses Offset for live), as are nulls, the task
    id and the CallbackURL.
    """
    params = {
        key: value
        for key, value in task_info.items()
        if key not in _NOT_PARAMETERS and value not in (None, "")
    }
    offset = params.get("Offset")
    if params.get("SourceType") == "live" or offset in (0, "0"):
        params.pop("Offset", None)
    return params
