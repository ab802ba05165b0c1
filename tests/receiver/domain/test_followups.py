"""Destinations and ARTC follow-ups: validation, masking, and the jobs transitions call for."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from receiver.domain.destinations import ArtcTranscodeSpec
from receiver.domain.followups import follow_up_job, wind_down_jobs
from receiver.domain.relay import PullToPushSpec, Relay, RelaySpec, declaration_problem
from receiver.domain.states import JobAction, RelayOrigin, RelayState, Status
from receiver.follow_up_views import failed_hint
from receiver.redaction import mask_text
from tests.receiver.domain.test_relay import CONFIG as PLAIN_CONFIG
from tests.receiver.domain.test_relay import NOW

CONFIG = {k: v for k, v in PLAIN_CONFIG.items() if k != "DstUrl"}
CHANNEL = {"Bucket": "rec-bucket", "ChannelName": "rec1", "FragDuration": 2, "FragCount": 3}
TRANSCODE = {
    "UserId": "anchor",
    "MaxIdleTime": 600,
    "OutputParams": [{"UserId": "anchor_360p", "UserToken": "tok", "TranscodeTemplate": "lsd"}],
}


def spec(**changes: Any) -> RelaySpec:
    body: dict[str, Any] = {
        "name": "rec1",
        "pull_to_push": dict(CONFIG),
        "destination": {"oss_live_channel": dict(CHANNEL)},
        "artc": {"AppId": "app-1", "ChannelId": "chan-1"},
        "artc_transcode": TRANSCODE,
    }
    body.update(changes)
    return msgspec.convert({k: v for k, v in body.items() if v is not None}, RelaySpec)


def relay(**changes: Any) -> Relay:
    declared = spec(**changes)
    return Relay(
        id="r1",
        name="rec1",
        state=RelayState.ACTIVE,
        origin=RelayOrigin.DECLARED,
        region="cn-shanghai",
        pull_to_push=declared.pull_to_push or PullToPushSpec(),
        destination=declared.destination,
        artc=declared.artc,
        artc_transcode=declared.artc_transcode,
    )


def test_the_issue_declaration_is_accepted_and_needs_no_dst_url() -> None:
    declared = spec()
    assert declaration_problem(declared, NOW) is None
    assert relay().missing_config() == []
    assert relay(destination=None).missing_config() == ["DstUrl"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"pull_to_push": {**CONFIG, "DstUrl": "rtmp://a/b/c"}}, "never both"),
        ({"destination": None}, "lacks DstUrl"),
        ({"destination": {}}, "needs oss_live_channel"),
        ({"destination": {"oss_live_channel": {**CHANNEL, "Bucket": "Bad_Bucket"}}}, "Bucket"),
        ({"destination": {"oss_live_channel": {**CHANNEL, "ChannelName": "a/b"}}}, "without '/'"),
        (
            {
                "destination": {
                    "oss_live_channel": {"Bucket": "rec-bucket", "ChannelName": "c", "FragCount": 3}
                }
            },
            "together",
        ),
        ({"destination": {"oss_live_channel": {**CHANNEL, "PlaylistName": "x.mp4"}}}, ".m3u8"),
        ({"artc": {"AppId": "bad app", "ChannelId": "c"}}, "artc.AppId"),
        ({"artc": None}, "artc_transcode needs artc"),
        ({"artc_transcode": {**TRANSCODE, "OutputParams": []}}, "at least one output"),
        (
            {"artc_transcode": {**TRANSCODE, "UserId": "anchor_360p"}},
            "differ from each other and from UserId",
        ),
    ],
)
def test_declaration_problems_name_the_field(changes: dict[str, Any], words: str) -> None:
    problem = declaration_problem(spec(**changes), NOW)
    assert problem is not None and words in problem


@pytest.mark.parametrize(
    "bad",
    [
        {"artc_transcode": {**TRANSCODE, "MaxIdleTime": 9}},
        {"artc_transcode": {**TRANSCODE, "MaxIdleTime": 14_401}},
        {"destination": {"oss_live_channel": {**CHANNEL, "FragDuration": 101}}},
        {"destination": {"oss_live_channel": {**CHANNEL, "UrlExpiresSeconds": 10}}},
        {
            "artc_transcode": {
                **TRANSCODE,
                "OutputParams": [{"UserId": "o", "UserToken": "t", "TranscodeTemplate": "8k"}],
            }
        },
    ],
)
def test_ranges_and_templates_are_refused_when_decoded(bad: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        spec(**bad)


def test_adopt_takes_no_destination() -> None:
    adopting = spec(pull_to_push=None, adopt={"Region": "cn-shanghai", "TaskId": "t"})
    problem = declaration_problem(adopting, NOW)
    assert problem is not None and "destination" in problem


def test_user_tokens_are_masked() -> None:
    shown = msgspec.convert(TRANSCODE, ArtcTranscodeSpec).redacted()
    assert [o.UserToken for o in shown.OutputParams] == ["***"]
    assert "tok" not in msgspec.json.encode(shown).decode()


def test_signed_parameters_are_masked_in_provider_bodies() -> None:
    raw = (
        '{"TaskInfo":{"DstUrl":"rtmp://b.oss-cn-shanghai.aliyuncs.com/live/c?playlistName='
        'p.m3u8\\u0026OSSAccessKeyId=AKID\\u0026Expires=17\\u0026Signature=ab%2Bc%3D"}}'
    )
    masked = mask_text(raw)
    assert "AKID" not in masked and "ab%2Bc" not in masked
    assert "OSSAccessKeyId=***" in masked and "Signature=***" in masked
    assert "playlistName=p.m3u8" in masked


def test_follow_up_jobs_follow_the_declaration() -> None:
    full, bare = (
        relay(),
        relay(
            artc=None,
            artc_transcode=None,
            destination=None,
            pull_to_push={**CONFIG, "DstUrl": "rtmp://a/b/c"},
        ),
    )
    start = follow_up_job(full, JobAction.START_TRANSCODE, task_id="t1", previous_status=None)
    assert start is not None and (start.action, start.relay_id, start.task_id) == (
        JobAction.START_TRANSCODE,
        "r1",
        "t1",
    )
    again = follow_up_job(
        full, JobAction.START_TRANSCODE, task_id="t1", previous_status=Status.RUNNING
    )
    assert again is None
    recovered = follow_up_job(
        full, JobAction.START_TRANSCODE, task_id="t1", previous_status=Status.RECOVERING
    )
    assert recovered is not None
    for action in (JobAction.START_TRANSCODE, JobAction.STOP_TRANSCODE, JobAction.DISABLE_CHANNEL):
        assert follow_up_job(bare, action, task_id="t1", previous_status=None) is None
    assert follow_up_job(full, JobAction.RECREATE, task_id="t1", previous_status=None) is None
    assert [j.action for j in wind_down_jobs(full, "failed")] == [
        JobAction.STOP_TRANSCODE,
        JobAction.DISABLE_CHANNEL,
    ]
    kept = relay(destination={"oss_live_channel": {**CHANNEL, "DisableOnEnd": False}})
    assert [j.action for j in wind_down_jobs(kept, "ended")] == [JobAction.STOP_TRANSCODE]
    assert wind_down_jobs(bare, "failed") == ()


def test_failed_hint_points_to_the_whip_route() -> None:
    assert failed_hint(relay()) is None
    failed = msgspec.structs.replace(relay(), state=RelayState.FAILED)
    hint = failed_hint(failed)
    assert hint is not None and "POST /api/relays/r1/whip" in hint and "chan-1" in hint
    without = msgspec.structs.replace(failed, artc=None)
    assert "declare the relay with artc" in (failed_hint(without) or "")
