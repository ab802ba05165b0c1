"""The operator API: admin bearer token, tasks listing and detail, query validation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount

from receiver.api import iso_time
from receiver.app import create_app
from receiver.config import Settings
from tests.receiver.helpers import (
    Server,
    aliyun_status,
    assert_error_shape,
    running_server,
    trtc_ingest,
)

ADMIN = "adm-7c1b5e0f93"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path, admin_token=ADMIN) as running:
        yield running


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Basic {ADMIN}", ADMIN, f"Bearer {ADMIN}x"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/tasks"),
        ("GET", "/api/tasks/aliyun/some-task"),
        ("GET", "/api/unrecognized"),
        ("POST", "/api/unrecognized/1/replay"),
        ("GET", "/api/relays"),
        ("GET", "/api/jobs"),
        ("GET", "/api/no-such-route"),
        ("GET", "/%61pi/tasks"),  # percent-encoded: still /api
    ],
)
def test_api_requires_the_admin_token(
    guarded: Server, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = guarded.client.request(method, path, headers=headers)
    assert_error_shape(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_api_with_the_admin_token(guarded: Server) -> None:
    assert guarded.aliyun(aliyun_status("t", 1, 1725501000)).status_code == 200
    for scheme in ("Bearer", "bearer"):
        headers = {"Authorization": f"{scheme} {ADMIN}"}
        response = guarded.client.get("/api/tasks", headers=headers)
        assert response.status_code == 200, response.text
        assert [t["task_id"] for t in response.json()["items"]] == ["t"]
        assert guarded.client.get("/api/tasks/aliyun/t", headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_ops_routes_need_no_admin_token(guarded: Server, path: str) -> None:
    assert guarded.client.get(path).status_code == 200


def test_callbacks_are_not_behind_the_admin_token(guarded: Server) -> None:
    assert guarded.aliyun(aliyun_status("t", 1, 1725501000)).status_code == 200
    assert guarded.trtc(trtc_ingest("i", 701, 0, 1)).status_code == 200


def test_without_admin_token_on_loopback_the_api_is_open(server: Server) -> None:
    assert server.client.get("/api/tasks").status_code == 200


def test_list_tasks_newest_first_with_filters_and_cursor(server: Server) -> None:
    for n in range(5):
        assert server.aliyun(aliyun_status(f"a{n}", 1 + n % 3, 1725501000 + n)).status_code == 200
    assert server.trtc(trtc_ingest("i0", 701, 0, 1701937900013)).status_code == 200
    items = server.api("GET", "/api/tasks").json()["items"]
    assert [t["task_id"] for t in items] == ["i0", "a4", "a3", "a2", "a1", "a0"]
    assert set(items[0]) == {"provider", "task_id", "status", "reason", "first_seen", "updated_at"}

    only_aliyun = server.api("GET", "/api/tasks", params={"provider": "aliyun"}).json()
    assert [t["task_id"] for t in only_aliyun["items"]] == ["a4", "a3", "a2", "a1", "a0"]
    recovering = server.api("GET", "/api/tasks", params={"status": "recovering"}).json()
    assert [t["task_id"] for t in recovering["items"]] == ["a4", "a1"]

    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    while True:
        page = server.api("GET", "/api/tasks", params=params).json()
        seen += [t["task_id"] for t in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == ["i0", "a4", "a3", "a2", "a1", "a0"]


@pytest.mark.parametrize(
    "params",
    [
        {"provider": "youtube"},
        {"status": "sleeping"},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"limit": "9" * 5000},
        {"cursor": "abc"},
        {"cursor": "-1"},
        {"cursor": "9" * 30},
    ],
)
def test_bad_queries_are_400(server: Server, params: dict[str, str]) -> None:
    assert_error_shape(server.api("GET", "/api/tasks", params=params), 400, "bad_query")


@pytest.mark.parametrize("params", [{"limit": "0"}, {"cursor": "9" * 30}, {"cursor": "x"}])
def test_bad_unrecognized_queries_are_400(server: Server, params: dict[str, str]) -> None:
    assert_error_shape(server.api("GET", "/api/unrecognized", params=params), 400, "bad_query")


def test_unknown_task_is_404_json(server: Server) -> None:
    assert_error_shape(server.api("GET", "/api/tasks/aliyun/nope"), 404, "not_found")
    assert_error_shape(server.api("GET", "/api/tasks/martian/nope"), 404, "not_found")


def test_task_detail_shape(server: Server) -> None:
    body = aliyun_status("d", 3, 1725501000, reason="PushStreamFailed")
    assert server.aliyun(body).status_code == 200
    task = server.task("aliyun", "d")
    assert task["provider"] == "aliyun" and task["task_id"] == "d"
    assert (task["status"], task["reason"]) == ("offline", "PushStreamFailed")
    assert task["first_seen"].endswith("Z") and task["updated_at"].endswith("Z")
    assert task["jobs"] == []
    [event] = task["events"]
    assert task["state_event_id"] == event["id"]
    assert task["arrival_order"] == [event["id"]]
    assert event["source"] == "aliyun_pull_to_push"
    assert event["provider_status"] == "3"
    assert event["reason"] == "PushStreamFailed"
    assert event["received_at"].endswith("Z")


def test_openapi_describes_the_task_routes(server: Server) -> None:
    schema = server.client.get("/openapi.json").json()
    assert "/api/tasks" in schema["paths"]
    assert any(path.startswith("/api/tasks/") for path in schema["paths"])
    assert "/api/unrecognized" in schema["paths"]


def test_openapi_describes_every_api_route_and_method(tmp_path: Path) -> None:
    from receiver.openapi import OPENAPI

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'schema.db'}"))
    paths = OPENAPI["paths"]
    assert isinstance(paths, dict)
    described = {
        (re.sub(r"\{(\w+)(:path)?\}", "{x}", path), method.upper())
        for path, item in paths.items()
        for method in item
    }
    [api] = [route for route in app.routes if isinstance(route, Mount) and route.path == "/api"]
    assert len(api.routes) == len(described)  # one route per path and method
    for route in api.routes:
        path = "/api" + getattr(route, "path", "")
        for method in getattr(route, "methods", set()) - {"HEAD"}:
            shape = re.sub(r"\{(\w+)(:path)?\}", "{x}", path)
            assert (shape, method) in described, f"{method} {path} missing from /openapi.json"


def test_iso_time() -> None:
    assert iso_time(None) is None
    assert iso_time(0) == "1970-01-01T00:00:00.000Z"
    assert iso_time(1701937900013) == "2023-12-07T08:31:40.013Z"
    # Out of datetime's range (rows written before times were bounded): no crash.
    assert iso_time(10**18) is None
    assert iso_time(10**300) is None


def test_openapi_documents_the_relay_declaration_down_to_every_field(server: Server) -> None:
    schema = server.client.get("/openapi.json").json()
    components = schema["components"]["schemas"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref") or next(
            (o["$ref"] for o in node.get("anyOf", []) if "$ref" in o), None
        )
        return components[ref.rsplit("/", 1)[1]] if ref else node

    post = schema["paths"]["/api/relays"]["post"]
    body = resolve(post["requestBody"]["content"]["application/json"]["schema"])
    assert body["required"] == ["name"]
    assert set(body["properties"]) == {
        "name",
        "pull_to_push",
        "adopt",
        "trtc_ingest",
        "recreate",
        "destination",
        "artc",
        "artc_transcode",
    }
    channel = resolve(resolve(body["properties"]["destination"])["properties"]["oss_live_channel"])
    assert channel["required"] == ["Bucket", "ChannelName"]
    assert channel["properties"]["DisableOnEnd"]["default"] is True
    frag = channel["properties"]["FragCount"]["anyOf"][0]
    assert (frag["minimum"], frag["maximum"]) == (1, 100)
    transcode = resolve(body["properties"]["artc_transcode"])
    idle = transcode["properties"]["MaxIdleTime"]["anyOf"][0]
    assert (idle["minimum"], idle["maximum"]) == (10, 14_400)
    output = components["ArtcOutputSpec"]
    assert sorted(output["properties"]["TranscodeTemplate"]["enum"]) == [
        "alimcopy",
        "lhd",
        "lld",
        "lsd",
        "lud",
    ]
    whip = schema["paths"]["/api/relays/{id}/whip"]["post"]
    minted = resolve(whip["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"WhipAddress", "UserId", "ExpireTime", "expires_at"} <= set(minted["properties"])
    config = resolve(body["properties"]["pull_to_push"])
    assert {"Region", "SourceType", "SourceUrls", "DstUrl", "StartTime", "EndTime"} <= set(
        config["properties"]
    )
    assert config["additionalProperties"] is False
    ingest = resolve(body["properties"]["trtc_ingest"])
    assert ingest["required"] == ["SdkAppId"]
    assert ingest["properties"]["SdkAppId"]["type"] == "integer"
    assert resolve(body["properties"]["adopt"])["required"] == ["Region", "TaskId"]
    recreate = resolve(body["properties"]["recreate"])
    assert recreate["properties"]["max_attempts"]["default"] == 5
    accepted = resolve(post["responses"]["202"]["content"]["application/json"]["schema"])
    assert set(accepted["properties"]) == {"id", "state", "callback_url"}
    listed = schema["paths"]["/api/relays/{id}"]["get"]["responses"]["200"]
    relay = resolve(listed["content"]["application/json"]["schema"])
    assert resolve(relay["properties"]["state"])["enum"] == [
        "active",
        "deleted",
        "deleting",
        "ended",
        "failed",
        "pending",
    ]
