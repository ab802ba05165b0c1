"""The relay declaration: decoded once into Structs, provider names kept, shapes unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from receiver.domain.relay import (
    PullToPushSpec,
    RecreatePolicy,
    RelaySpec,
    TrtcIngestSpec,
    declaration_problem,
    missing_config_keys,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CONFIG = {
    "Region": "cn-shanghai",
    "SourceType": "live",
    "SourceUrls": ["rtmp://src.example.com/app/s"],
    "DstUrl": "rtmp://push.example.com/app/s",
    "EndTime": "2026-11-22T12:00:00Z",
}


def test_a_declaration_round_trips_with_exactly_the_keys_given() -> None:
    link = {"SdkAppId": 1400000000, "TaskId": "-t1.."}
    body = {"name": "final", "pull_to_push": CONFIG, "trtc_ingest": link}
    spec = msgspec.json.decode(msgspec.json.encode(body), type=RelaySpec)
    assert declaration_problem(spec, NOW) is None
    assert msgspec.to_builtins(spec.pull_to_push) == CONFIG
    assert msgspec.to_builtins(spec.trtc_ingest) == link


def test_merged_takes_only_what_the_newer_config_sets() -> None:
    older = PullToPushSpec(Region="cn-shanghai", DstUrl="rtmp://a/b", RetryCount=3)
    newer = PullToPushSpec(Region="cn-beijing", SourceUrls=["rtmp://c/d"])
    merged = older.merged(newer)
    assert (merged.Region, merged.DstUrl, merged.RetryCount) == ("cn-beijing", "rtmp://a/b", 3)
    assert merged.SourceUrls == ["rtmp://c/d"]
    assert missing_config_keys(merged) == ["SourceType", "EndTime"]


def test_redacted_masks_the_ingest_secrets_only() -> None:
    ingest = TrtcIngestSpec(SdkAppId=1, UserSig="secret", PrivateMapKey="key", RoomId="room")
    shown = ingest.redacted()
    assert (shown.UserSig, shown.PrivateMapKey, shown.RoomId) == ("***", "***", "room")
    assert TrtcIngestSpec(SdkAppId=1).redacted().UserSig is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"EndTime": "2026-11-22T09:00:00Z"}, "past"),
        ({"EndTime": "noon"}, "EndTime must look like"),
        ({"StartTime": "soon"}, "StartTime must look like"),
        ({"SourceUrls": [""]}, "SourceUrls"),
        ({"CallbackUrl": "http://elsewhere/cb"}, "set by relaywarden"),
    ],
)
def test_declaration_problems_name_the_field(changes: dict[str, object], words: str) -> None:
    spec = RelaySpec(name="x", pull_to_push=msgspec.convert({**CONFIG, **changes}, PullToPushSpec))
    problem = declaration_problem(spec, NOW)
    assert problem is not None and words in problem


def test_recreate_policy_counts_recent_attempts_and_refuses_a_near_end() -> None:
    policy = RecreatePolicy(within_seconds=60, min_remaining_seconds=120)
    now = 1_000_000
    assert policy.recent_attempts([now - 61_000, now - 59_000], now) == [now - 59_000]
    end = datetime.fromtimestamp((now + 119_000) / 1000, tz=UTC)
    assert policy.too_close_to_end(end, now)
    assert not policy.too_close_to_end(None, now)
