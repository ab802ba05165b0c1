"""LiveChannel configuration validation, its XML, and the parsing of OSS's XML answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from handlers.oss_livechannel import (
    LiveChannelStatus,
    LiveChannelTarget,
    XmlError,
    parse_create_result,
    parse_error,
    parse_stat,
    validate_channel_name,
)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frag_duration": 5},
        {"frag_count": 3},
        {"frag_duration": 0, "frag_count": 3},
        {"frag_duration": 5, "frag_count": 101},
        {"frag_duration": True, "frag_count": 3},
        {"playlist_name": "a.m3u"},
        {"playlist_name": ".m3u8"},
        {"playlist_name": "a" * 124 + ".m3u8"},
        {"playlist_name": "dir/list.m3u8"},
        {"description": "d" * 129},
    ],
)
def test_invalid_targets_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LiveChannelTarget(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"frag_duration": 1, "frag_count": 100},
        {"playlist_name": "a.m3u8"},
        {"playlist_name": "a" * 123 + ".m3u8"},
    ],
)
def test_valid_targets(kwargs: dict[str, Any]) -> None:
    LiveChannelTarget(**kwargs)


def test_xml_is_built_safely() -> None:
    target = LiveChannelTarget(
        frag_duration=4,
        frag_count=6,
        playlist_name="a&b<c>.m3u8",
        description="</Description><Status>disabled</Status>",
        enabled=True,
    )
    root = ET.fromstring(target.to_xml())
    assert root.findtext("Description") == "</Description><Status>disabled</Status>"
    assert root.findtext("Status") == "enabled"
    assert root.findtext("Target/Type") == "HLS"
    assert root.findtext("Target/FragDuration") == "4"
    assert root.findtext("Target/FragCount") == "6"
    assert root.findtext("Target/PlaylistName") == "a&b<c>.m3u8"
    bare = ET.fromstring(LiveChannelTarget(enabled=False).to_xml())
    assert bare.find("Target/FragDuration") is None
    assert bare.find("Target/PlaylistName") is None
    assert bare.findtext("Status") == "disabled"


@pytest.mark.parametrize("name", ["", "a/b", "x" * 1024, "tab\there"])
def test_bad_channel_names(name: str) -> None:
    with pytest.raises(ValueError):
        validate_channel_name(name)


def test_parse_answers() -> None:
    created = parse_create_result(
        b"<CreateLiveChannelResult><PublishUrls><Url>rtmp://b.x/live/c</Url></PublishUrls>"
        b"<PlayUrls><Url>http://b.x/c/playlist.m3u8</Url></PlayUrls></CreateLiveChannelResult>"
    )
    assert created.publish_url == "rtmp://b.x/live/c"
    assert created.play_url == "http://b.x/c/playlist.m3u8"
    stat = parse_stat(
        b"<LiveChannelStat><Status>Live</Status><RemoteAddr>1.2.3.4:5</RemoteAddr>"
        b"<Video><Width>640</Width><Codec>H264</Codec></Video></LiveChannelStat>"
    )
    assert stat.status is LiveChannelStatus.LIVE
    assert stat.remote_addr == "1.2.3.4:5"
    assert stat.video == {"Width": "640", "Codec": "H264"}
    assert stat.audio == {}
    error = parse_error(
        b"<?xml version='1.0'?><Error><Code>NoSuchBucket</Code><Message>gone</Message>"
        b"<RequestId>R1</RequestId><EC>0015-00000101</EC></Error>"
    )
    assert (error.code, error.message, error.request_id, error.ec) == (
        "NoSuchBucket",
        "gone",
        "R1",
        "0015-00000101",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<Other/>",
        b"<LiveChannelStat><Status>Sleeping</Status></LiveChannelStat>",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><LiveChannelStat><Status>&a;</Status></LiveChannelStat>',
    ],
)
def test_bad_answers_are_xml_errors(body: bytes) -> None:
    with pytest.raises(XmlError):
        parse_stat(body)


def test_create_result_needs_both_urls() -> None:
    with pytest.raises(XmlError):
        parse_create_result(b"<CreateLiveChannelResult><PublishUrls/></CreateLiveChannelResult>")
