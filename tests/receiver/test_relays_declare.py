"""``PUT /api/relays/{name}``: declaring relays by name, idempotently, over a real socket.

The server runs without the job runner, so the tests see exactly what the store kept.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from handlers.planner import RulePlanner
from handlers.rules import load_rules
from tests.receiver.helpers import aliyun_status, assert_error_shape, db_rows, running_server
from tests.receiver.test_relays_api import INGEST, USER_SIG, declaration


def put(server: Any, name: str, body: dict[str, Any]) -> Any:
    return server.api("PUT", f"/api/relays/{name}", json=body)


def test_put_creates_then_leaves_unchanged_then_updates(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        body = declaration("cup-final", trtc_ingest=INGEST)
        created = put(server, "cup-final", body)
        assert created.status_code == 201, created.text
        first = created.json()
        assert first["outcome"] == "created" and first["name"] == "cup-final"
        assert first["state"] == "pending" and "token=" in first["callback_url"]
        assert USER_SIG not in created.text

        again = put(server, "cup-final", body)
        assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
        assert again.json()["id"] == first["id"]
        # one relay, one create job: an unchanged declaration enqueues nothing
        assert len(db_rows(server.db, "SELECT id FROM relays")) == 1
        assert len(db_rows(server.db, "SELECT id FROM jobs WHERE action = 'create_task'")) == 1

        body["pull_to_push"]["DstUrl"] = "rtmp://push.example.com/app/moved"
        body["recreate"] = {"max_attempts": 2}
        updated = put(server, "cup-final", body)
        assert updated.status_code == 200 and updated.json()["outcome"] == "updated"
        shown = server.api("GET", f"/api/relays/{first['id']}").json()
        assert shown["pull_to_push"]["DstUrl"] == "rtmp://push.example.com/app/moved"
        assert shown["recreate"]["max_attempts"] == 2
        assert put(server, "cup-final", body).json()["outcome"] == "unchanged"

        # the name in the path counts; a body may leave it out
        nameless = {k: v for k, v in declaration("other").items() if k != "name"}
        assert put(server, "other", nameless).json()["outcome"] == "created"


def test_put_and_post_refuse_what_cannot_be(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        assert put(server, "a", declaration("a")).status_code == 201
        taken = server.api("POST", "/api/relays", json=declaration("a"))
        assert_error_shape(taken, 409, "conflict")
        assert "'a'" in taken.json()["error"]["message"]
        assert_error_shape(put(server, "a", declaration("b")), 400, "name_mismatch")
        adopt = {"name": "a", "adopt": {"Region": "cn-shanghai", "TaskId": "t-1"}}
        switched = put(server, "a", adopt)
        assert_error_shape(switched, 409, "conflict")
        assert "delete the relay" in switched.json()["error"]["message"]
        assert_error_shape(put(server, "a", {"name": "a"}), 400, "invalid_relay")
        bad = server.api("PUT", "/api/relays/a", content=b"[1, 2]")
        assert_error_shape(bad, 400, "invalid_relay")
        assert len(db_rows(server.db, "SELECT id FROM relays")) == 1


def test_put_adopt_is_idempotent_and_a_deleted_name_is_free_again(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        adopt = {"name": "taken-over", "adopt": {"Region": "cn-shanghai", "TaskId": "t-9"}}
        assert put(server, "taken-over", adopt).json()["outcome"] == "created"
        assert put(server, "taken-over", adopt).json()["outcome"] == "unchanged"
        relay_id = db_rows(server.db, "SELECT id FROM relays")[0]["id"]
        assert server.api("DELETE", f"/api/relays/{relay_id}").status_code == 202
        # what the delete job does once the provider confirms (no runner in this server)
        with contextlib.closing(sqlite3.connect(server.db)) as conn, conn:
            conn.execute("UPDATE relays SET state = 'deleted'")
        again = put(server, "taken-over", adopt)
        assert again.status_code == 201 and again.json()["id"] != relay_id


def test_adopted_relays_get_unique_names(tmp_path: Path) -> None:
    planner = RulePlanner(load_rules(None), default_region="cn-shanghai")
    with running_server(tmp_path, planner=planner) as server:
        assert put(server, "studio", declaration("studio")).status_code == 201
        now = time.time()
        for task_id in ("task-aaaaaaaa", "task-bbbbbbbb"):
            body = aliyun_status(task_id, 1, now)
            body["TaskInfo"]["TaskName"] = "studio"
            assert server.aliyun(body).status_code == 200
        names = sorted(r["name"] for r in db_rows(server.db, "SELECT name FROM relays"))
        assert len(names) == len(set(names)) == 3
        assert names[0] == "studio" and all(n.startswith("studio-") for n in names[1:])
