"""``/api/relays`` over a real socket: validation, listing, pagination, no secrets out.

The server runs without the job runner, so declared relays stay ``pending`` and the tests
see exactly what the API stored and enqueued.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from tests.receiver.helpers import CALLBACK_TOKEN, Server, assert_error_shape, running_server

USER_SIG = "eJw1jcEKgkAURX-SECRET-USER-SIG"
PRIVATE_MAP_KEY = "SECRET-PRIVATE-MAP-KEY"


def when(offset: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def declaration(name: str = "final-match", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "pull_to_push": {
            "Region": "cn-shanghai",
            "SourceType": "live",
            "SourceProtocol": "rtmp",
            "SourceUrls": ["rtmp://src.example.com/app/stream"],
            "DstUrl": f"rtmp://push.example.com/app/{name}",
            "StartTime": when(60),
            "EndTime": when(7200),
        },
    }
    body.update(extra)
    return body


INGEST = {
    "SdkAppId": 1400000000,
    "RoomId": "room-1",
    "RoomIdType": 0,
    "UserId": "relay-bot",
    "UserSig": USER_SIG,
    "PrivateMapKey": PRIVATE_MAP_KEY,
    "StreamUrl": "https://play.example.com/app/stream.flv",
}


def without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def invalid_cases() -> list[tuple[str, Any, tuple[str, ...]]]:
    """(id, body, words the message must contain)."""
    base = declaration()
    config = base["pull_to_push"]
    adopt = {"Region": "cn-shanghai", "TaskId": "08a1b00c-9c2f"}

    def with_config(**changes: Any) -> dict[str, Any]:
        body = copy.deepcopy(base)
        body["pull_to_push"].update(changes)
        return body

    return [
        ("both", {**base, "adopt": adopt}, ("exactly one", "pull_to_push", "adopt")),
        ("neither", {"name": "x"}, ("exactly one", "pull_to_push", "adopt")),
        (
            "missing-keys",
            {**base, "pull_to_push": without(config, "DstUrl", "EndTime")},
            ("DstUrl", "EndTime"),
        ),
        ("empty-source-urls", with_config(SourceUrls=[]), ("SourceUrls",)),
        ("source-urls-not-list", with_config(SourceUrls="rtmp://a/b"), ("SourceUrls", "array")),
        ("past-end", with_config(EndTime=when(-60)), ("EndTime", "past")),
        ("bad-end", with_config(EndTime="tomorrow"), ("EndTime", "2026-11-22T12:00:00Z")),
        ("bad-start", with_config(StartTime="soon"), ("StartTime",)),
        (
            "callback-url",
            with_config(CallbackUrl="http://elsewhere/cb"),
            ("CallbackUrl", "relaywarden"),
        ),
        ("adopt-missing-task-id", {"name": "x", "adopt": {"Region": "cn-shanghai"}}, ("TaskId",)),
        (
            "ingest-sdkappid-text",
            {**base, "trtc_ingest": {**INGEST, "SdkAppId": "1400000000"}},
            ("SdkAppId", "int"),
        ),
        (
            "ingest-incomplete",
            {**base, "trtc_ingest": without(INGEST, "RoomId", "StreamUrl")},
            ("TaskId", "RoomId", "StreamUrl"),
        ),
        ("ingest-link-without-app", {**base, "trtc_ingest": {"TaskId": "-abc.."}}, ("SdkAppId",)),
        ("unknown-field", {**base, "pull_to_pusn": config}, ("pull_to_pusn",)),
        ("bad-recreate", {**base, "recreate": {"max_attempts": 0}}, ("max_attempts",)),
        ("empty-name", {**base, "name": "  "}, ("name",)),
        ("name-missing", without(base, "name"), ("name",)),
        ("not-an-object", [base], ("object",)),
    ]


CASES = invalid_cases()


@pytest.mark.parametrize(("body", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_declarations_are_400_with_actionable_messages(
    server: Server, body: Any, words: tuple[str, ...]
) -> None:
    response = server.api("POST", "/api/relays", json=body)
    assert_error_shape(response, 400, "invalid_relay")
    message = response.json()["error"]["message"]
    for word in words:
        assert word in message, message
    assert USER_SIG not in response.text and PRIVATE_MAP_KEY not in response.text
    assert server.api("GET", "/api/relays").json()["items"] == []
    assert server.api("GET", "/api/jobs").json()["items"] == []


def test_a_body_that_is_not_json_is_400(server: Server) -> None:
    response = server.api("POST", "/api/relays", content=b"{not json")
    assert_error_shape(response, 400, "invalid_relay")


def test_declare_get_and_list(server: Server) -> None:
    created = server.api("POST", "/api/relays", json=declaration("first"))
    assert created.status_code == 202, created.text
    body = created.json()
    assert set(body) == {"id", "state", "callback_url"}
    assert body["state"] == "pending"
    base = server.settings.base_url
    assert body["callback_url"].startswith(f"{base}/callbacks/aliyun/pull-to-push?")
    assert "token=***" in body["callback_url"] and CALLBACK_TOKEN not in created.text
    assert f"relay={body['id']}" in body["callback_url"]

    adopted = server.api(
        "POST",
        "/api/relays",
        json={
            "name": "taken-over",
            "adopt": {"Region": "cn-beijing", "TaskId": "08a1b00c"},
            "trtc_ingest": {"SdkAppId": 1400000000, "TaskId": "-linked+/task.."},
        },
    )
    assert adopted.status_code == 202, adopted.text

    relay = server.api("GET", f"/api/relays/{body['id']}").json()
    assert (relay["id"], relay["name"], relay["state"]) == (body["id"], "first", "pending")
    assert (relay["origin"], relay["region"], relay["generation"]) == ("declared", "cn-shanghai", 0)
    assert relay["current_task_id"] is None
    assert relay["pull_to_push"] == declaration("first")["pull_to_push"]
    assert relay["recreate"]["max_attempts"] == 5  # the default policy
    assert relay["tasks"] == [] and relay["ingests"] == []

    other = server.api("GET", f"/api/relays/{adopted.json()['id']}").json()
    assert (other["origin"], other["region"]) == ("adopted", "cn-beijing")
    assert other["ingests"] == [
        {"sdk_app_id": 1400000000, "task_id": "-linked+/task..", "state": "running", "owned": False}
    ]

    listed = server.api("GET", "/api/relays").json()
    assert [r["id"] for r in listed["items"]] == [adopted.json()["id"], body["id"]]  # newest first
    assert listed["next_cursor"] is None
    pending = server.api("GET", "/api/relays", params={"state": "pending"}).json()["items"]
    assert len(pending) == 2
    assert server.api("GET", "/api/relays", params={"state": "active"}).json()["items"] == []

    jobs = server.api("GET", "/api/jobs").json()["items"]
    assert sorted((j["action"], j["relay_id"]) for j in jobs) == sorted(
        [("create_task", body["id"]), ("adopt_task", adopted.json()["id"])]
    )


def test_callback_urls_are_built_from_the_public_url(tmp_path: Path) -> None:
    with running_server(tmp_path, public_url="https://relay.example.com/rw/") as server:
        created = server.api("POST", "/api/relays", json=declaration("public"))
        assert created.status_code == 202, created.text
        url = created.json()["callback_url"]
        assert url.startswith("https://relay.example.com/rw/callbacks/aliyun/pull-to-push?")
        assert "region=cn-shanghai" in url and "token=***" in url


def test_unknown_relay_and_bad_queries(server: Server) -> None:
    assert_error_shape(server.api("GET", "/api/relays/nope"), 404, "not_found")
    assert_error_shape(server.api("DELETE", "/api/relays/nope"), 404, "not_found")
    for params in ({"state": "sleeping"}, {"limit": "0"}, {"limit": "x"}, {"cursor": "garbage"}):
        response = server.api("GET", "/api/relays", params=params)
        assert_error_shape(response, 400, "bad_query")


def test_user_sig_never_appears_in_api_output(server: Server) -> None:
    created = server.api("POST", "/api/relays", json=declaration("secret", trtc_ingest=INGEST))
    assert created.status_code == 202, created.text
    relay_id = created.json()["id"]
    outputs = [
        created,
        server.api("GET", f"/api/relays/{relay_id}"),
        server.api("GET", "/api/relays"),
        server.api("GET", "/api/jobs"),
        server.api("DELETE", f"/api/relays/{relay_id}"),
        server.api("GET", f"/api/relays/{relay_id}"),
    ]
    for response in outputs:
        assert response.status_code in (200, 202), response.text
        assert USER_SIG not in response.text and PRIVATE_MAP_KEY not in response.text
    shown = outputs[1].json()["trtc_ingest"]
    assert shown["UserSig"] == "***" and shown["PrivateMapKey"] == "***"
    assert shown["RoomId"] == "room-1"  # the rest stays readable


def test_pagination_walks_every_relay_once(server: Server) -> None:
    ids = []
    for n in range(7):
        response = server.api("POST", "/api/relays", json=declaration(f"relay-{n}"))
        assert response.status_code == 202
        ids.append(response.json()["id"])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = server.api("GET", "/api/relays", params=params).json()
        pages += 1
        seen.extend(r["id"] for r in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 3
    assert seen == list(reversed(ids))
    assert pages == 3
