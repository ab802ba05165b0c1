"""Forged and cross-relay callbacks against a real server: all 401, nothing stored."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from urllib.parse import quote

from receiver.auth import relay_callback_token
from tests.receiver.helpers import (
    ALIYUN_PATH,
    CALLBACK_TOKEN,
    TENCENT_PATH,
    TRTC_KEY,
    aliyun_status,
    assert_error_shape,
    dumps,
    running_server,
    sign,
    trtc_ingest,
)

BODY = dumps(aliyun_status("forged-task", 1, 1725501000))


def test_forged_token_callbacks_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    relay_a = relay_callback_token(CALLBACK_TOKEN, "relay-a")
    forgeries: list[dict[str, str]] = [
        {},
        {"token": ""},
        {"token": "wrong"},
        {"token": CALLBACK_TOKEN + "x"},
        {"token": CALLBACK_TOKEN[:-1]},
        {"token": CALLBACK_TOKEN.upper()},
        {"token": quote(quote(CALLBACK_TOKEN, safe=""), safe="") + "%"},
        {"token": relay_a},  # a relay's token without its relay
        {"token": relay_a, "relay": "relay-b"},  # one relay's token for another relay
        {"token": relay_callback_token("another-install", "relay-a"), "relay": "relay-a"},
    ]
    with running_server(tmp_path) as server:
        before = server.counts()
        for params in forgeries:
            response = server.client.post(ALIYUN_PATH, params=params, content=BODY)
            assert_error_shape(response, 401, "unauthorized")
            response = server.client.post(TENCENT_PATH, params=params, content=BODY)
            assert_error_shape(response, 401, "unauthorized")
        assert server.counts() == before
        # relay-a's genuine token does not cover a task no relay owns while relay-a does
        # not await a task id (tests/security/test_cross_relay.py): 401, nothing stored.
        response = server.client.post(
            ALIYUN_PATH, params={"token": relay_a, "relay": "relay-a"}, content=BODY
        )
        assert_error_shape(response, 401, "unauthorized")
        assert server.counts() == before
        # The main token passes, so the refusals above are about the credentials.
        ok = server.client.post(ALIYUN_PATH, params={"token": CALLBACK_TOKEN}, content=BODY)
        assert ok.status_code == 200, ok.text


def test_forged_css_signatures_are_refused(tmp_path: Path) -> None:
    key = "css-callback-key-7e21"
    future = int(time.time()) + 600
    past = int(time.time()) - 600

    def css(t: int | str, signing_key: str = key) -> str:
        return hashlib.md5((signing_key + str(t)).encode()).hexdigest()

    def body(**fields: object) -> bytes:
        return json.dumps(
            {"event_type": 314, "task_id": "css-forged", "event": "TaskStart", **fields}
        ).encode()

    with running_server(tmp_path, css_callback_key=key) as server:
        before = server.counts()
        for forged in (
            body(),
            body(t=future),
            body(sign=css(future)),
            body(t=future, sign=css(past)),
            body(t=past, sign=css(past)),  # expired
            body(t=future, sign=css(future, "other-key")),
            body(t=future, sign=css(future, CALLBACK_TOKEN)),  # the URL token is not the key
            body(t="²", sign=css("²")),
        ):
            response = server.client.post(
                TENCENT_PATH, params={"token": CALLBACK_TOKEN}, content=forged
            )
            assert_error_shape(response, 401, "unauthorized")
        # A genuine signature without the URL token is refused too.
        signed = body(t=future, sign=css(future))
        response = server.client.post(TENCENT_PATH, content=signed)
        assert_error_shape(response, 401, "unauthorized")
        assert server.counts() == before
        genuine = server.client.post(TENCENT_PATH, params={"token": CALLBACK_TOKEN}, content=signed)
        assert genuine.status_code in (200, 202), genuine.text


def test_forged_trtc_signatures_are_refused(tmp_path: Path) -> None:
    body = trtc_ingest("forged-ingest", 701, 0, 1701937900013)
    other = trtc_ingest("forged-ingest", 702, 0, 1701937900014)
    with running_server(tmp_path) as server:
        before = server.counts()
        for headers in (
            {},
            {"Sign": ""},
            {"Sign": "forged"},
            {"Sign": sign("wrong-key", body)},
            {"Sign": sign(TRTC_KEY, other)},  # a genuine signature of another body
            {"Sign": sign(TRTC_KEY, body)[:-2]},
        ):
            response = server.client.post("/callbacks/trtc", content=body, headers=headers)
            assert_error_shape(response, 401, "unauthorized")
        assert server.counts() == before
        genuine = server.client.post(
            "/callbacks/trtc", content=body, headers={"Sign": sign(TRTC_KEY, body)}
        )
        assert genuine.status_code == 200, genuine.text
