"""OSS signing: the documented RTMP vectors, and equality with the official oss2 SDK."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import httpx
import oss2
import oss2.auth
import pytest

from handlers.oss_signing import (
    OssResource,
    OssV4Auth,
    mask_signed_url,
    oss4_authorization,
    rtmp_signature,
    sign_rtmp_url,
    v4_uri_encode,
)
from tests.fakes.oss import oss2_v4_authorization

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
STAMP = "20260304T050607Z"


def test_rtmp_vectors() -> None:
    common: dict[str, Any] = {
        "bucket": "examplebucket",
        "channel": "test-channel",
        "expires": 1700003600,
    }
    playlist = {"playlistName": "playlist.m3u8"}
    assert rtmp_signature("sk", params=playlist, **common) == "Qt9jisPtyM8mX7HuRoNgxOWGMw0="
    assert rtmp_signature("sk", params={}, **common) == "pg0VovqGcmlYAq8jL/jvm3B0LUE="


@pytest.mark.parametrize(
    ("bucket", "channel", "playlist", "secret"),
    [
        ("examplebucket", "test-channel", "playlist.m3u8", "sk"),
        ("examplebucket", "test-channel", None, "sk"),
        ("relay-records", "ch_1.v2", "my list+1.m3u8", "s/e+c=r&et"),
        ("relay-records", "频道-é", "索引.m3u8", "ünïcode-secret"),
    ],
)
def test_rtmp_url_equals_oss2(bucket: str, channel: str, playlist: str | None, secret: str) -> None:
    now, lifetime = 1_800_000_000, 7_200
    sdk = oss2.Bucket(oss2.Auth("AKID+/=", secret), "https://oss-cn-shanghai.aliyuncs.com", bucket)
    with mock.patch.object(oss2.auth.time, "time", return_value=now):
        expected = sdk.sign_rtmp_url(channel, playlist, lifetime)
    publish = f"rtmp://{bucket}.oss-cn-shanghai.aliyuncs.com/live/{channel}"
    ours = sign_rtmp_url(
        publish,
        access_key_id="AKID+/=",
        secret=secret,
        bucket=bucket,
        channel=channel,
        expires=now + lifetime,
        playlist_name=playlist,
    )
    # oss2 does not percent-encode the channel in the path; the query must match exactly.
    assert ours.split("?", 1)[1] == expected.split("?", 1)[1]
    assert ours.split("?", 1)[0] == publish


def test_fresh_signature_for_each_expiry() -> None:
    args = {"access_key_id": "ak", "secret": "sk", "bucket": "b-1", "channel": "c"}
    first = sign_rtmp_url("rtmp://b-1.x/live/c", expires=100, **args)
    second = sign_rtmp_url("rtmp://b-1.x/live/c", expires=200, **args)
    assert (
        dict(parse_qsl(urlsplit(first).query))["Signature"]
        != (dict(parse_qsl(urlsplit(second).query))["Signature"])
    )


@pytest.mark.parametrize(
    ("method", "key", "query", "headers"),
    [
        ("PUT", "test-channel", {"live": ""}, {"Content-Type": "application/xml"}),
        ("PUT", "ch 1/é+&=", {"live": "", "status": "disabled"}, {}),
        ("GET", "test-channel", {"live": "", "comp": "stat"}, {}),
        ("DELETE", "a~b_c.d-e", {"live": ""}, {"x-oss-meta-note": "v a/l"}),
        ("GET", "*!'()", {"live": "", "comp": "stat"}, {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}),
    ],
)
@pytest.mark.parametrize("secret", ["plain", "s/e+c=r&et ü"])
def test_v4_authorization_equals_oss2(
    method: str, key: str, query: dict[str, str], headers: dict[str, str], secret: str
) -> None:
    signed = {**headers, "x-oss-date": STAMP, "x-oss-content-sha256": "UNSIGNED-PAYLOAD"}
    ours = oss4_authorization(
        "AK-id",
        secret,
        when=WHEN,
        method=method,
        resource=OssResource("cn-hangzhou", "relay-records", key),
        query=query,
        headers=signed,
    )
    expected = oss2_v4_authorization(
        "AK-id",
        secret,
        method=method,
        region="cn-hangzhou",
        bucket="relay-records",
        key=key,
        params=query,
        headers=headers,
        when=WHEN,
    )
    assert ours == expected


def test_auth_signs_an_httpx_request_like_oss2() -> None:
    auth = OssV4Auth("AK-id", "secret", clock=WHEN.timestamp)
    request = httpx.Request("PUT", "https://relay-records.oss-cn-beijing.aliyuncs.com/my%20ch")
    request.url = request.url.copy_with(query=b"live&status=enabled")
    OssResource("cn-beijing", "relay-records", "my ch").attach(request)
    flow = auth.auth_flow(request)
    sent = next(flow)
    assert sent.headers["x-oss-date"] == STAMP
    assert sent.headers["x-oss-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert sent.url.query == b"live&status=enabled"
    expected = oss2_v4_authorization(
        "AK-id",
        "secret",
        method="PUT",
        region="cn-beijing",
        bucket="relay-records",
        key="my ch",
        params={"live": "", "status": "enabled"},
        headers={},
        when=WHEN,
    )
    assert sent.headers["authorization"] == expected


def test_auth_refuses_a_request_without_resource() -> None:
    with pytest.raises(ValueError, match="OssResource"):
        OssV4Auth("a", "b").sign(httpx.Request("GET", "https://x.example/"))


def test_uri_encoding() -> None:
    assert v4_uri_encode("/a b/ü~*", keep_slash=True) == "/a%20b/%C3%BC~%2A"
    assert v4_uri_encode("a/b", keep_slash=False) == "a%2Fb"


def test_mask_signed_url_drops_signing_parameters() -> None:
    signed = sign_rtmp_url(
        "rtmp://b-1.oss-cn-shanghai.aliyuncs.com/live/c",
        access_key_id="AKID",
        secret="sk",
        bucket="b-1",
        channel="c",
        expires=1_800_000_000,
        playlist_name="p.m3u8",
    )
    masked = mask_signed_url(signed)
    assert masked == "rtmp://b-1.oss-cn-shanghai.aliyuncs.com/live/c?playlistName=p.m3u8"
    for secret_part in ("AKID", "Signature", "Expires", "1800000000"):
        assert secret_part not in masked
    presigned = "https://b.x/o?x-oss-signature=abc&x-oss-credential=AK%2Fd&keep=1"
    assert mask_signed_url(presigned) == "https://b.x/o?keep=1"
    assert mask_signed_url("rtmp://b.x/live/c") == "rtmp://b.x/live/c"
