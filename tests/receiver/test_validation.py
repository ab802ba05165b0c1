"""Up-front validation of pull-to-push specs: one test per documented rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from receiver.validation import params_from_task_info, pull_to_push_problems

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
VALID: dict[str, Any] = {
    "Region": "cn-shanghai",
    "SourceType": "live",
    "SourceProtocol": "rtmp",
    "SourceUrls": ["rtmp://src.example.com/live/a"],
    "DstUrl": "rtmp://push.example.com/live/a",
    "StartTime": "2026-11-22T09:00:00Z",
    "EndTime": "2026-11-22T12:00:00Z",
}
VOD: dict[str, Any] = {**VALID, "SourceType": "vod", "SourceUrls": ["https://v/a.mp4"]}


def problems(base: dict[str, Any] | None = None, /, **changes: Any) -> list[str]:
    spec = {**(VALID if base is None else base), **changes}
    return pull_to_push_problems({k: v for k, v in spec.items() if v is not None}, NOW)


def test_a_valid_spec_has_no_problem() -> None:
    assert problems() == []
    assert problems(StartTime=None) == []  # relaywarden starts it now
    assert problems(VOD, SourceProtocol=None, Offset=30) == []
    assert problems(SourceType="url", SourceUrls=[f"https://v/{n}.mp4" for n in range(30)]) == []


@pytest.mark.parametrize("key", ["Region", "SourceType", "SourceUrls", "DstUrl", "EndTime"])
def test_required_keys(key: str) -> None:
    assert f"{key} is required" in problems(**{key: None})
    assert f"{key} is required" in problems(**{key: ""})


def test_region_and_source_type_take_documented_values() -> None:
    assert problems(Region="us-east-1") == [
        "Region must be one of ap-southeast-1, ap-southeast-5, cn-beijing, cn-shanghai, cn-shenzhen"
    ]
    assert problems(SourceType="file") == ["SourceType must be live, vod or url"]


def test_source_protocol_required_for_live_sources_only() -> None:
    assert problems(SourceProtocol=None) == [
        "SourceProtocol is required for a live source (rtmp, srt, http-flv, hls)"
    ]
    assert problems(SourceProtocol="rtsp") == ["SourceProtocol must be rtmp, srt, http-flv or hls"]
    for protocol in ("rtmp", "srt", "http-flv", "hls"):
        assert problems(SourceProtocol=protocol) == []
    assert problems(VOD, SourceProtocol=None) == []


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (59, False),
        (60, True),
        (300, True),
        (301, False),
        ("120", True),
        ("1e2", False),
        (True, False),
        (90.5, False),
    ],
)
def test_retry_interval_is_60_to_300(value: Any, ok: bool) -> None:
    expected = [] if ok else ["RetryInterval must be a whole number of seconds in 60-300"]
    assert problems(RetryInterval=value) == expected


def test_end_time_later_than_start_and_now() -> None:
    assert problems(EndTime="2026-11-22T09:00:00Z") == [
        "EndTime must be later than StartTime",
        "EndTime must be in the future",
    ]
    assert problems(StartTime=None, EndTime="2026-11-22T09:59:59Z") == [
        "EndTime must be in the future"
    ]
    assert problems(StartTime="2026-11-22T13:00:00Z") == ["EndTime must be later than StartTime"]
    assert problems(StartTime="tomorrow", EndTime="later") == [
        "StartTime must look like 2026-11-22T12:00:00Z",
        "EndTime must look like 2026-11-22T12:00:00Z",
    ]


def test_offset_only_for_vod_and_url() -> None:
    assert problems(Offset=0) == ["Offset applies to vod and url sources only, not to live"]
    assert problems(VOD, Offset=0) == []
    assert problems(VOD, Offset="15") == []
    for bad in (-1, "x", 1.5):
        assert problems(VOD, Offset=bad) == ["Offset must be a whole number of seconds, 0 or more"]


@pytest.mark.parametrize(
    "dst",
    ["http://push.example.com/live/a", "rtmp:///live/a", "rtmp://push.example.com", "push/a", 7],
)
def test_dst_url_is_an_rtmp_url(dst: Any) -> None:
    assert len(problems(DstUrl=dst)) == 1 and problems(DstUrl=dst)[0].startswith("DstUrl must")


def test_dst_url_length_is_limited() -> None:
    long_url = "rtmp://push.example.com/live/" + "a" * 2000
    assert problems(DstUrl=long_url) == ["DstUrl is longer than 2000 characters"]


def test_source_urls_count_by_type() -> None:
    assert problems(SourceUrls=["rtmp://a/b", "rtmp://c/d"]) == [
        "SourceUrls of a live source holds exactly one URL, not 2"
    ]
    assert problems(VOD, SourceUrls=["https://v/a"] * 31) == [
        "SourceUrls holds at most 30 URLs, not 31"
    ]
    assert problems(SourceUrls="rtmp://a/b") == ["SourceUrls must be a non-empty list of URLs"]
    assert problems(SourceUrls=[""]) == ["SourceUrls must be a non-empty list of URLs"]


def test_every_problem_is_listed_at_once() -> None:
    found = problems(
        Region=None,
        SourceProtocol=None,
        RetryInterval=10,
        Offset=5,
        EndTime="2026-11-22T08:00:00Z",
        DstUrl="srt://x/y",
    )
    assert found == [
        "Region is required",
        "SourceProtocol is required for a live source (rtmp, srt, http-flv, hls)",
        "RetryInterval must be a whole number of seconds in 60-300",
        "Offset applies to vod and url sources only, not to live",
        "EndTime must be later than StartTime",
        "EndTime must be in the future",
        "DstUrl must be an rtmp:// URL with a host and a stream path",
    ]


def test_params_from_describe_never_copy_a_zero_offset() -> None:
    info = {
        "TaskId": "t-1",
        "TaskName": "",
        "CallbackURL": "https://rw.example.com/callbacks?token=secret",
        "RepeatNumber": None,
        "FileIndex": None,
        "Offset": 0,
        **{k: v for k, v in VALID.items()},
    }
    params = params_from_task_info(info)
    assert params == VALID
    assert pull_to_push_problems(params, NOW) == []
    assert "Offset" not in params_from_task_info({**info, "Offset": 12})  # live: never
    vod = params_from_task_info({**info, **VOD, "Offset": 12})
    assert vod["Offset"] == 12 and pull_to_push_problems(vod, NOW) == []
    assert "Offset" not in params_from_task_info({**info, **VOD, "Offset": "0"})
