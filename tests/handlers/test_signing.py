"""Signing: the providers' documented test vectors, and agreement with the official SDKs."""

from __future__ import annotations

import hashlib
import string
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qsl

import httpx
from alibabacloud_openapi_util.client import Client as AcsOracle
from hypothesis import given, settings
from hypothesis import strategies as st
from tencentcloud.common.abstract_client import AbstractClient
from tencentcloud.common.sign import Sign

from handlers.aliyun_signing import (
    AcsV3Auth,
    acs3_authorization,
    acs3_signature,
    canonical_query,
    percent_encode,
    rpc_signature,
)
from handlers.tc3_signing import (
    Tc3Auth,
    tc3_authorization,
    tc3_canonical_request,
    tc3_date,
    tc3_signature,
    tc3_string_to_sign,
)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# --------------------------------------------------------------- signing: ACS3

ACS3_VECTOR_QUERY = {
    "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
    "RegionId": "cn-shanghai",
}
ACS3_VECTOR_HEADERS = {
    "host": "ecs.cn-shanghai.aliyuncs.com",
    "x-acs-action": "RunInstances",
    "x-acs-version": "2014-05-26",
    "x-acs-date": "2023-10-26T10:22:32Z",
    "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
    "x-acs-content-sha256": EMPTY_SHA256,
}
ACS3_VECTOR_SIGNATURE = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
ACS3_VECTOR_SIGNED = (
    "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
)


def test_acs3_vector_pure_function() -> None:
    signature = acs3_signature(
        "YourAccessKeySecret",
        method="POST",
        query=ACS3_VECTOR_QUERY,
        headers=ACS3_VECTOR_HEADERS,
        body_sha256=EMPTY_SHA256,
    )
    assert signature == ACS3_VECTOR_SIGNATURE
    authorization = acs3_authorization(
        "YourAccessKeyId",
        "YourAccessKeySecret",
        method="POST",
        query=ACS3_VECTOR_QUERY,
        headers=ACS3_VECTOR_HEADERS,
        body_sha256=EMPTY_SHA256,
    )
    assert authorization == (
        f"ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders={ACS3_VECTOR_SIGNED},"
        f"Signature={ACS3_VECTOR_SIGNATURE}"
    )


def test_acs3_vector_oracle_agrees() -> None:
    request = SimpleNamespace(
        method="POST", pathname="/", query=ACS3_VECTOR_QUERY, headers=ACS3_VECTOR_HEADERS
    )
    expected = AcsOracle.get_authorization(
        request, "ACS3-HMAC-SHA256", EMPTY_SHA256, "YourAccessKeyId", "YourAccessKeySecret"
    )
    assert expected.endswith(f"Signature={ACS3_VECTOR_SIGNATURE}")


def test_acs3_vector_through_httpx_auth() -> None:
    when = datetime(2023, 10, 26, 10, 22, 32, tzinfo=UTC).timestamp()
    auth = AcsV3Auth(
        "YourAccessKeyId",
        "YourAccessKeySecret",
        clock=lambda: when,
        nonce_factory=lambda: "3156853299f313e23d1673dc12e1703d",
    )
    request = httpx.Request(
        "POST",
        "https://ecs.cn-shanghai.aliyuncs.com/",
        params=ACS3_VECTOR_QUERY,
        headers={"x-acs-action": "RunInstances", "x-acs-version": "2014-05-26"},
    )
    signed = next(auth.sync_auth_flow(request))
    for name, value in ACS3_VECTOR_HEADERS.items():
        assert signed.headers[name] == value
    assert signed.headers["Authorization"] == (
        f"ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders={ACS3_VECTOR_SIGNED},"
        f"Signature={ACS3_VECTOR_SIGNATURE}"
    )
    assert signed.url.query.decode() == canonical_query(ACS3_VECTOR_QUERY)


def test_acs3_nonce_is_fresh_per_attempt() -> None:
    auth = AcsV3Auth("id", "secret")
    nonces = set()
    for _ in range(20):
        request = httpx.Request("GET", "https://live.aliyuncs.com/", headers={"x-acs-action": "A"})
        nonces.add(next(auth.sync_auth_flow(request)).headers["x-acs-signature-nonce"])
    assert len(nonces) == 20


def test_auth_repr_hides_the_secret() -> None:
    assert "secret-value" not in repr(AcsV3Auth("id", "secret-value"))
    assert "secret-value" not in repr(Tc3Auth("id", "secret-value", "trtc"))


# --------------------------------------------------------------- signing: RPC

RPC_VECTOR = {
    "AccessKeyId": "testid",
    "Action": "DescribeDedicatedHosts",
    "Version": "2014-05-26",
    "Format": "JSON",
    "RegionId": "cn-beijing",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureVersion": "1.0",
    "SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb",
    "Timestamp": "2023-03-13T08:34:30Z",
}


def test_rpc_vector() -> None:
    assert rpc_signature(RPC_VECTOR, "GET", "testsecret") == "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
    assert AcsOracle.get_rpcsignature(RPC_VECTOR, "GET", "testsecret") == (
        "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
    )


def test_percent_encoding_is_rfc3986() -> None:
    assert percent_encode("a b*c~d/e+f") == "a%20b%2Ac~d%2Fe%2Bf"
    assert percent_encode("名") == "%E5%90%8D"


# --------------------------------------------------------------- signing: TC3

TC3_BODY = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
TC3_SIGNATURE = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
TC3_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
TC3_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"


def test_tc3_vector_pure_function() -> None:
    assert len(TC3_BODY) == 86
    assert tc3_date(1551113065) == "2019-02-25"
    signature = tc3_signature(
        TC3_KEY,
        service="cvm",
        timestamp=1551113065,
        host="cvm.tencentcloudapi.com",
        content_type="application/json; charset=utf-8",
        body=TC3_BODY,
    )
    assert signature == TC3_SIGNATURE
    canonical = tc3_canonical_request(
        content_type="application/json; charset=utf-8",
        host="cvm.tencentcloudapi.com",
        body=TC3_BODY,
    )
    string_to_sign = tc3_string_to_sign(canonical, timestamp=1551113065, service="cvm")
    assert Sign.sign_tc3(TC3_KEY, "2019-02-25", "cvm", string_to_sign) == TC3_SIGNATURE


def test_tc3_vector_through_httpx_auth() -> None:
    auth = Tc3Auth(TC3_ID, TC3_KEY, "cvm", clock=lambda: 1551113065.4)
    request = httpx.Request(
        "POST",
        "https://cvm.tencentcloudapi.com/",
        content=TC3_BODY,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    signed = next(auth.sync_auth_flow(request))
    assert signed.headers["X-TC-Timestamp"] == "1551113065"
    assert signed.headers["Authorization"] == (
        f"TC3-HMAC-SHA256 Credential={TC3_ID}/2019-02-25/cvm/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={TC3_SIGNATURE}"
    )


def test_tc3_signs_the_host_with_its_port() -> None:
    auth = Tc3Auth("id", "key", "trtc", clock=lambda: 1700000000)
    request = httpx.Request(
        "POST",
        "http://127.0.0.1:8123/",
        content=b"{}",
        headers={"Content-Type": "application/json"},
    )
    signed = next(auth.sync_auth_flow(request))
    expected = tc3_signature(
        "key",
        service="trtc",
        timestamp=1700000000,
        host="127.0.0.1:8123",
        content_type="application/json",
        body=b"{}",
    )
    assert signed.headers["Authorization"].endswith(f"Signature={expected}")


# ---------------------------------------------------------------- SDK oracles, randomized

_KEYS = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=16)
_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
_HEADER_VALUE = st.text(alphabet=string.ascii_letters + string.digits + " -_.:/;=,", max_size=30)
_SECRET = st.text(alphabet=string.ascii_letters + string.digits + "+/=", min_size=1, max_size=40)


@settings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    query=st.dictionaries(_KEYS, _TEXT, max_size=6),
    extra_headers=st.dictionaries(
        st.from_regex(r"x-acs-[a-z]{1,10}", fullmatch=True), _HEADER_VALUE, max_size=4
    ),
    host=st.from_regex(r"[a-z0-9.-]{1,30}(:[0-9]{1,5})?", fullmatch=True),
    body=st.binary(max_size=64),
    secret=_SECRET,
)
def test_acs3_matches_sdk_oracle(
    method: str,
    query: dict[str, str],
    extra_headers: dict[str, str],
    host: str,
    body: bytes,
    secret: str,
) -> None:
    headers = {"host": host, **extra_headers}
    body_sha256 = hashlib.sha256(body).hexdigest()
    request = SimpleNamespace(method=method, pathname="/", query=query, headers=headers)
    expected = AcsOracle.get_authorization(request, "ACS3-HMAC-SHA256", body_sha256, "ak", secret)
    ours = acs3_authorization(
        "ak", secret, method=method, query=query, headers=headers, body_sha256=body_sha256
    )
    assert ours == expected


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    method=st.sampled_from(["GET", "POST"]),
    query=st.dictionaries(_KEYS, _TEXT, max_size=6),
    body=st.binary(max_size=64),
    secret=_SECRET,
    when=st.floats(min_value=0, max_value=4e9),
)
def test_acs3_auth_requests_verify_with_sdk_oracle(
    method: str, query: dict[str, str], body: bytes, secret: str, when: float
) -> None:
    """What AcsV3Auth sends verifies the way the provider (and our fake) checks it."""
    auth = AcsV3Auth("ak", secret, clock=lambda: when)
    request = httpx.Request(
        method,
        "http://127.0.0.1:9000/",
        params=query,
        content=body,
        headers={"x-acs-action": "DescribeLivePullToPush", "x-acs-version": "2016-11-01"},
    )
    signed = next(auth.sync_auth_flow(request))
    received = dict(parse_qsl(signed.url.query.decode(), keep_blank_values=True))
    assert received == query
    names = signed.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    oracle_request = SimpleNamespace(
        method=method,
        pathname="/",
        query=received,
        headers={name: signed.headers[name] for name in names},
    )
    expected = AcsOracle.get_authorization(
        oracle_request, "ACS3-HMAC-SHA256", hashlib.sha256(body).hexdigest(), "ak", secret
    )
    assert signed.headers["Authorization"] == expected


@settings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(
    method=st.sampled_from(["GET", "POST"]),
    params=st.dictionaries(_KEYS, _TEXT, max_size=10),
    secret=_SECRET,
)
def test_rpc_matches_sdk_oracle(method: str, params: dict[str, str], secret: str) -> None:
    assert rpc_signature(params, method, secret) == AcsOracle.get_rpcsignature(
        params, method, secret
    )


@settings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(
    body=_TEXT,
    host=st.from_regex(r"[a-z0-9.-]{1,30}(:[0-9]{1,5})?", fullmatch=True),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain"]
    ),
    timestamp=st.integers(min_value=0, max_value=2**32),
    service=st.from_regex(r"[a-z]{2,10}", fullmatch=True),
    secret=_SECRET,
)
def test_tc3_matches_sdk(
    body: str, host: str, content_type: str, timestamp: int, service: str, secret: str
) -> None:
    date = tc3_date(timestamp)
    ours = tc3_signature(
        secret,
        service=service,
        timestamp=timestamp,
        host=host,
        content_type=content_type,
        body=body.encode("utf-8"),
    )
    # The SDK's own canonicalization and key chain (an instance method that uses no state).
    sdk_request = SimpleNamespace(
        method="POST",
        uri="/",
        data=body,
        header={"Content-Type": content_type, "Host": host, "X-TC-Timestamp": str(timestamp)},
    )
    assert ours == AbstractClient._get_tc3_signature(None, {}, sdk_request, date, service, secret)
    canonical = tc3_canonical_request(
        content_type=content_type, host=host, body=body.encode("utf-8")
    )
    string_to_sign = tc3_string_to_sign(canonical, timestamp=timestamp, service=service)
    assert ours == Sign.sign_tc3(secret, date, service, string_to_sign)
    authorization = tc3_authorization(
        "AKID",
        secret,
        service=service,
        timestamp=timestamp,
        host=host,
        content_type=content_type,
        body=body.encode("utf-8"),
    )
    assert authorization.endswith(f"Signature={ours}")
