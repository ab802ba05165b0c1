"""The fake OSS and fake ARTC themselves: the official SDKs are accepted, forgeries are not."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import httpx
import oss2
import oss2.models
import pytest

from handlers.aliyun_signing import acs3_authorization
from tests.fakes.artc import FakeArtc
from tests.fakes.oss import FakeOss, oss2_v4_authorization


def sdk_bucket(
    fake: FakeOss, secret: str | None = None, bucket: str = "relay-records"
) -> oss2.Bucket:
    assert fake.base_url is not None
    auth = oss2.ProviderAuthV4(
        oss2.credentials.StaticCredentialsProvider(
            fake.access_key_id, secret or fake.access_key_secret
        )
    )
    return oss2.Bucket(auth, fake.base_url, bucket, region=fake.region)


def test_official_oss_sdk_is_accepted(oss_fake: FakeOss) -> None:
    bucket = sdk_bucket(oss_fake)
    target = oss2.models.LiveChannelInfoTarget(
        frag_duration=2, frag_count=4, playlist_name="sdk.m3u8"
    )
    created = bucket.create_live_channel(
        "sdk channel", oss2.models.LiveChannelInfo(status="enabled", target=target)
    )
    assert created.publish_url == oss_fake.publish_url("relay-records", "sdk channel")
    assert oss_fake.channel("relay-records", "sdk channel").config["FragCount"] == "4"
    assert bucket.get_live_channel_stat("sdk channel").status == "Idle"
    oss_fake.start_push("relay-records", "sdk channel")
    assert bucket.get_live_channel_stat("sdk channel").status == "Live"
    bucket.put_live_channel_status("sdk channel", "disabled")
    assert bucket.get_live_channel_stat("sdk channel").status == "Disabled"
    bucket.delete_live_channel("sdk channel")
    with pytest.raises(oss2.exceptions.NotFound) as caught:
        bucket.get_live_channel_stat("sdk channel")
    assert caught.value.code == "NoSuchLiveChannel"


def test_official_oss_sdk_with_a_wrong_secret_is_refused(oss_fake: FakeOss) -> None:
    with pytest.raises(oss2.exceptions.ServerError) as caught:
        sdk_bucket(oss_fake, secret="not-the-secret").get_live_channel_stat("x")
    assert caught.value.status == 403
    assert caught.value.code == "SignatureDoesNotMatch"


def test_fake_oss_refuses_tampered_requests(oss_fake: FakeOss) -> None:
    assert oss_fake.base_url is not None
    when = datetime.now(UTC).replace(microsecond=0)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    headers = {"x-oss-date": stamp, "x-oss-content-sha256": "UNSIGNED-PAYLOAD"}
    authorization = oss2_v4_authorization(
        oss_fake.access_key_id,
        oss_fake.access_key_secret,
        method="GET",
        region=oss_fake.region,
        bucket="relay-records",
        key="ch",
        params={"live": "", "comp": "stat"},
        headers=headers,
        when=when,
    )
    url = f"{oss_fake.base_url}/relay-records/ch?live&comp=stat"
    good = httpx.get(url, headers={**headers, "Authorization": authorization})
    assert good.status_code == 404  # signed right; the channel does not exist
    # The same signature on another channel, or with another date, does not pass.
    other = httpx.get(
        url.replace("/ch?", "/ch2?"), headers={**headers, "Authorization": authorization}
    )
    assert other.status_code == 403 and b"SignatureDoesNotMatch" in other.content
    unsigned = httpx.get(url, headers=headers)
    assert unsigned.status_code == 403 and b"<Code>AccessDenied</Code>" in unsigned.content
    assert [c.outcome for c in oss_fake.calls] == [
        "NoSuchLiveChannel",
        "SignatureDoesNotMatch",
        "AccessDenied",
    ]


def test_fake_artc_checks_the_acs3_signature(artc_fake: FakeArtc) -> None:
    assert artc_fake.base_url is not None
    host = artc_fake.base_url.split("://", 1)[1]
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def signed_headers(secret: str, nonce: str) -> dict[str, str]:
        headers = {
            "host": host,
            "x-acs-action": "CreateRTCWhipStreamAddress",
            "x-acs-version": "2016-11-01",
            "x-acs-date": date,
            "x-acs-signature-nonce": nonce,
            "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
        }
        query = {"AppId": "fake-artc-app", "ChannelId": "c", "UserId": "u", "DisplayName": "d"}
        headers["Authorization"] = acs3_authorization(
            artc_fake.access_key_id,
            secret,
            method="POST",
            query=query,
            headers=headers,
            body_sha256=headers["x-acs-content-sha256"],
        )
        return headers

    url = f"{artc_fake.base_url}/?AppId=fake-artc-app&ChannelId=c&DisplayName=d&UserId=u"
    ok = httpx.post(url, headers=signed_headers(artc_fake.access_key_secret, "n-1"))
    assert ok.status_code == 200 and json.loads(ok.content)["WhipAddress"].startswith("https://")
    forged = httpx.post(url, headers=signed_headers("guess", "n-2"))
    assert forged.status_code == 400 and forged.json()["Code"] == "SignatureDoesNotMatch"
    replayed = httpx.post(url, headers=signed_headers(artc_fake.access_key_secret, "n-1"))
    assert replayed.json()["Code"] == "SignatureNonceUsed"
    assert len(artc_fake.whip_addresses) == 1


def test_fake_artc_serves_only_its_operations(artc_fake: FakeArtc) -> None:
    assert artc_fake.base_url is not None
    host = artc_fake.base_url.split("://", 1)[1]
    headers = {
        "host": host,
        "x-acs-action": "CreateLivePullToPush",
        "x-acs-version": "2016-11-01",
        "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": "n-3",
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
    }
    headers["Authorization"] = acs3_authorization(
        artc_fake.access_key_id,
        artc_fake.access_key_secret,
        method="POST",
        query={},
        headers=headers,
        body_sha256=headers["x-acs-content-sha256"],
    )
    answer = httpx.post(f"{artc_fake.base_url}/", headers=headers)
    assert answer.status_code == 404 and answer.json()["Code"] == "InvalidAction.NotFound"
