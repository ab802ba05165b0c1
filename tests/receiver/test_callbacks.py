"""Callback routes over a real socket: real uvicorn on 127.0.0.1, on both stores.

The ``server`` and ``planned`` fixtures run each test on a real SQLite file and on a
database of the session's real PostgreSQL server.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from receiver.store.base import JobSpec, Plan, PlanInput
from receiver.store.postgres.store import PgStore
from receiver.store.sqlite import SqliteStore
from tests.receiver.helpers import (
    ALIYUN_PATH,
    CALLBACK_TOKEN,
    SAMPLE,
    SAMPLE_TASK_ID,
    TRTC_KEY,
    Server,
    aliyun_status,
    assert_error_shape,
    db_rows,
    dumps,
    running_server,
    sign,
    task_path,
    trtc_ingest,
)
from tests.receiver.test_auth import VECTOR_KEY, VECTOR_SIGN
from tests.receiver.test_decoders_trtc import ROOM_EVENT

ACCEPTED = {"status": "accepted"}
DUPLICATE = {"status": "duplicate"}
UNRECOGNIZED = {"status": "unrecognized"}
MIB = 1024 * 1024


def job_per_change(given: PlanInput) -> Plan:
    """A planner that enqueues one job for every event applied to a task's state."""
    event = given.change.event
    return Plan(
        jobs=(JobSpec(action="check_ingest", provider=event.provider, task_id=event.task_id),)
    )


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    """relaywarden (callback token, TRTC key, no admin token) on a fresh database."""
    with running_server(tmp_path, database_url=database_url) as running:
        yield running


@pytest.fixture
def planned(tmp_path: Path, database_url: str) -> Iterator[Server]:
    """A server whose planner enqueues a job per applied change (to observe the outbox)."""
    with running_server(tmp_path, planner=job_per_change, database_url=database_url) as running:
        yield running


def ok(response: httpx.Response, expected: dict[str, str] = ACCEPTED) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == expected


# --- documented Alibaba bodies -------------------------------------------------------------


def test_documented_sample_is_accepted_and_stored(server: Server) -> None:
    ok(server.aliyun(SAMPLE))
    task = server.task("aliyun", SAMPLE_TASK_ID)
    assert task["status"] == "running"
    assert task["reason"] is None
    [event] = task["events"]
    assert event["kind"] == "status"
    assert event["provider_status"] == "1"
    assert event["event_time"] == "2024-09-05T01:54:06.000Z"
    assert event["applied"] is True
    assert json.loads(event["raw"]) == SAMPLE
    [row] = db_rows(server.db, "SELECT raw, event_time_ms FROM events")
    assert row["raw"] == dumps(SAMPLE)  # the raw body, byte for byte
    assert row["event_time_ms"] == 1725501246000


def test_both_spellings_and_numeric_fields(server: Server) -> None:
    first = {"Event": "LivePullToPushRunning", "EventTime": 1725501000, "TaskStatus": 1}
    ok(server.aliyun({**first, "TaskId": "a"}))
    ok(
        server.aliyun(
            {
                "Event": "LivePullToPushRuning",
                "EventTime": "1725501000",
                "TaskId": "b",
                "TaskStatus": "1",
            }
        )
    )
    ok(server.aliyun(aliyun_status("c", 1, 1725501000)))
    for task_id in "abc":
        task = server.task("aliyun", task_id)
        assert task["status"] == "running"
        assert task["events"][0]["event_time"] == "2024-09-05T01:50:00.000Z"


def test_recovering_then_offline_with_each_reason(server: Server) -> None:
    reasons = ["PullStreamFailed", "PushStreamFailed", "TriggerByUser", "UnknownError"]
    reasons += ["RetryTimesOffline", "SomeFutureReason"]
    for n, reason in enumerate(reasons):
        task_id = f"task-{n}"
        ok(server.aliyun(aliyun_status(task_id, "2", "1725501300")))
        assert server.task("aliyun", task_id)["status"] == "recovering"
        ok(server.aliyun(aliyun_status(task_id, 3, 1725501400, reason=reason)))
        task = server.task("aliyun", task_id)
        assert (task["status"], task["reason"]) == ("offline", reason)
        assert [e["status"] for e in task["events"]] == ["recovering", "offline"]


@pytest.mark.parametrize(
    "body",
    [
        {"Event": "LivePullToPushExit", "EventTime": "1725509000", "TaskId": "x"},
        {
            "Event": "LivePullToPushStatusChanged",
            "EventTime": 1725509000,
            "TaskId": "x",
            "TaskStatus": -1,
        },
        {"TaskId": "x", "TaskExitReason": "OverEndTime", "TaskExitTime": "1725509000"},
    ],
    ids=["event-name", "status-minus-1", "exit-reason"],
)
def test_exit_by_each_sign(server: Server, body: dict[str, object]) -> None:
    ok(server.aliyun(aliyun_status("x", 1, 1725508000)))
    ok(server.aliyun(body))
    task = server.task("aliyun", "x")
    assert task["status"] == "exited"
    exit_event = task["events"][-1]
    assert exit_event["kind"] == "exit"
    assert exit_event["event_time"] == "2024-09-05T04:03:20.000Z"
    assert task["reason"] == body.get("TaskExitReason")


def test_exit_time_orders_the_exit_when_event_time_is_absent(server: Server) -> None:
    ok(server.aliyun(aliyun_status("x", 1, 1725508000)))
    exit_body = {
        "Event": "LivePullToPushExit",
        "TaskId": "x",
        "TaskExitReason": "TriggerByUser",
        "TaskExitTime": 1725500000,  # before the running event: still terminal
    }
    ok(server.aliyun(exit_body))
    task = server.task("aliyun", "x")
    assert (task["status"], task["reason"]) == ("exited", "TriggerByUser")
    assert [e["kind"] for e in task["events"]] == ["exit", "status"]  # provider-time order
    assert task["events"][0]["event_time"] == "2024-09-05T01:33:20.000Z"


def test_region_and_relay_query_parameters_do_not_break_authentication(server: Server) -> None:
    ok(server.aliyun(aliyun_status("r", 1, 1), region="cn-beijing", relay="rl-1"))
    assert server.task("aliyun", "r")["status"] == "running"


# --- TRTC -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "expected"), [(0, "running"), (1, "failed"), (2, "running")])
def test_trtc_701_statuses(server: Server, status: int, expected: str) -> None:
    ok(server.trtc(trtc_ingest("ingest/1+a", 701, status, 1701937900013)))
    task = server.task("trtc", "ingest/1+a")
    assert task["status"] == expected
    assert task["events"][0]["kind"] == "ingest_start"
    assert task["events"][0]["event_time"] == "2023-12-07T08:31:40.013Z"


def test_trtc_702_stops_and_stopped_is_terminal(server: Server) -> None:
    ok(server.trtc(trtc_ingest("i", 701, 0, 1000)))
    ok(server.trtc(trtc_ingest("i", 702, 0, 2000)))
    ok(server.trtc(trtc_ingest("i", 701, 2, 3000)))  # newer, but the task id is gone
    task = server.task("trtc", "i")
    assert task["status"] == "stopped"
    assert [(e["kind"], e["applied"]) for e in task["events"]] == [
        ("ingest_start", True),
        ("ingest_stop", True),
        ("ingest_start", False),
    ]


@pytest.mark.parametrize(
    "bad_sign",
    [None, "", "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA=", "signed-with-another-key"],
)
def test_trtc_invalid_sign_is_401_and_nothing_is_stored(
    server: Server, bad_sign: str | None
) -> None:
    body = trtc_ingest("i", 701, 0, 1000)
    headers = {"SdkAppId": "1400000000"}
    if bad_sign == "signed-with-another-key":
        headers["Sign"] = sign("not-the-key", body)
    elif bad_sign is not None:
        headers["Sign"] = bad_sign
    before = server.counts()
    response = server.client.post("/callbacks/trtc", content=body, headers=headers)
    assert_error_shape(response, 401, "unauthorized")
    assert server.counts() == before
    # The same body correctly signed is accepted.
    ok(server.trtc(body))


def test_trtc_without_configured_key_is_401(tmp_path: Path) -> None:
    with running_server(tmp_path, trtc_callback_key=None) as server:
        body = trtc_ingest("i", 701, 0, 1000)
        before = server.counts()
        response = server.trtc(body, sign_with=TRTC_KEY)
        assert_error_shape(response, 401, "unauthorized")
        assert "RELAYWARDEN_TRTC_CALLBACK_KEY" in response.json()["error"]["message"]
        assert server.counts() == before


def test_trtc_other_groups_are_kept_listed_and_not_replayable(tmp_path: Path) -> None:
    # The documented TRTC signature vector, sent as TRTC would send it.
    with running_server(tmp_path, trtc_callback_key=VECTOR_KEY) as server:
        response = server.client.post(
            "/callbacks/trtc", content=ROOM_EVENT, headers={"Sign": VECTOR_SIGN}
        )
        assert response.status_code == 202, response.text
        assert response.json() == UNRECOGNIZED
        assert server.counts()["events"] == 0
        listing = server.api("GET", "/api/unrecognized").json()
        [item] = listing["items"]
        assert item["source"] == "trtc"
        assert item["body"] == ROOM_EVENT.decode()  # the raw text, tabs and all
        assert "2" in item["reason"] and "204" in item["reason"]
        assert item["received_at"].endswith("Z")
        assert item["replayed_at"] is None
        replay = server.api("POST", f"/api/unrecognized/{item['id']}/replay")
        assert_error_shape(replay, 422, "still_unrecognized")


# --- duplicates, ordering, terminal state --------------------------------------------------


def test_duplicate_is_acknowledged_without_new_event_state_or_job(planned: Server) -> None:
    server = planned
    ok(server.aliyun(SAMPLE))
    before = server.counts()
    assert before["jobs"] == 1
    [task_before] = db_rows(server.db, "SELECT * FROM tasks")
    ok(server.aliyun(SAMPLE), DUPLICATE)
    # The documented sample with numbers instead of strings is the same event.
    numeric = {**SAMPLE, "EventTime": 1725501246, "TaskStatus": 1}
    ok(server.aliyun(numeric), DUPLICATE)
    assert server.counts() == before
    assert db_rows(server.db, "SELECT * FROM tasks") == [task_before]


def test_duplicate_trtc_with_string_event_ms(planned: Server) -> None:
    server = planned
    ok(server.trtc(trtc_ingest("i", 701, 0, 1701937900013)))
    before = server.counts()
    ok(server.trtc(trtc_ingest("i", 701, 0, "1701937900013")), DUPLICATE)
    assert server.counts() == before


def test_out_of_order_events_grow_history_but_state_stays_at_the_newer(planned: Server) -> None:
    server = planned
    ok(server.aliyun(aliyun_status("o", 3, 1725502000, reason="PullStreamFailed")))
    jobs_after_newer = server.counts()["jobs"]
    ok(server.aliyun(aliyun_status("o", 1, 1725501000)))  # older, arrives later
    task = server.task("aliyun", "o")
    assert (task["status"], task["reason"]) == ("offline", "PullStreamFailed")
    events = task["events"]
    assert [e["status"] for e in events] == ["running", "offline"]  # provider-time order
    assert [e["applied"] for e in events] == [False, True]
    newer_id, older_id = events[1]["id"], events[0]["id"]
    assert task["arrival_order"] == [newer_id, older_id]
    assert task["state_event_id"] == newer_id
    assert server.counts()["jobs"] == jobs_after_newer  # a stale event plans nothing
    # An event with the same time as the state's arrives later: ties go to the later arrival.
    ok(server.aliyun(aliyun_status("o", 2, 1725502000)))
    assert server.task("aliyun", "o")["status"] == "recovering"


def test_events_after_exit_do_not_revive_the_task(server: Server) -> None:
    ok(server.aliyun(aliyun_status("e", 1, 1725501000)))
    ok(
        server.aliyun(
            {
                "Event": "LivePullToPushExit",
                "EventTime": 1725502000,
                "TaskId": "e",
                "TaskExitReason": "OverEndTime",
            }
        )
    )
    ok(server.aliyun(aliyun_status("e", 1, 1725503000)))
    ok(server.aliyun(aliyun_status("e", 2, 1725504000)))
    task = server.task("aliyun", "e")
    assert (task["status"], task["reason"]) == ("exited", "OverEndTime")
    assert [e["applied"] for e in task["events"]] == [True, True, False, False]
    assert len(task["arrival_order"]) == 4


@pytest.mark.parametrize("task_id", ["a/b/c", "a+b", "with space", " / + %2F ?#&"])
def test_task_ids_with_path_characters_are_reachable(server: Server, task_id: str) -> None:
    ok(server.aliyun(aliyun_status(task_id, 1, 1725501000)))
    task = server.task("aliyun", task_id.strip())
    assert task["task_id"] == task_id.strip()
    assert task["status"] == "running"
    assert server.api("GET", task_path("aliyun", task_id.strip() + "x")).status_code == 404


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong", CALLBACK_TOKEN + "x", CALLBACK_TOKEN[:-1]])
def test_wrong_or_missing_token_is_401_and_nothing_is_stored(
    server: Server, token: str | None
) -> None:
    before = server.counts()
    response = server.aliyun(SAMPLE, token=token)
    assert_error_shape(response, 401, "unauthorized")
    response = server.aliyun(b"not json", token=token)
    assert_error_shape(response, 401, "unauthorized")
    assert server.counts() == before


def test_token_in_another_parameter_or_header_is_not_accepted(server: Server) -> None:
    response = server.client.post(
        ALIYUN_PATH,
        params={"Token": CALLBACK_TOKEN},
        headers={"Authorization": f"Bearer {CALLBACK_TOKEN}"},
        content=dumps(SAMPLE),
    )
    assert_error_shape(response, 401)


@pytest.mark.parametrize(
    "body", [b"not json", b"", b'{"TaskId": "t", ', b"\xff\xfe\xfd", b'{"TaskId": "\xff"}']
)
def test_not_json_is_400_and_still_kept(server: Server, body: bytes) -> None:
    response = server.aliyun(body)
    assert_error_shape(response, 400, "malformed")
    assert server.counts()["events"] == 0
    [row] = db_rows(server.db, "SELECT source, reason, body FROM unrecognized")
    assert row["body"] == body
    assert row["source"] == "aliyun_pull_to_push"
    assert "JSON" in row["reason"]
    [item] = server.api("GET", "/api/unrecognized").json()["items"]
    assert item["body"] == body.decode("utf-8", errors="replace")


@pytest.mark.parametrize(
    "body",
    [
        {"hello": "world"},
        [1, 2],
        {"TaskId": "t", "TaskStatus": 9},
        {"TaskId": "t", "TaskStatus": 1, "EventTime": 1e300},
        {"TaskId": "t", "TaskStatus": 1, "TaskInfo": {"x": [[[[[[[[[[[[]]]]]]]]]]]]}, "Event": 5},
    ],
)
def test_unrecognized_json_is_202_and_kept(server: Server, body: object) -> None:
    response = server.aliyun(dumps(body))
    assert response.status_code == 202, response.text
    assert response.json() == UNRECOGNIZED
    assert server.counts()["events"] == 0
    [item] = server.api("GET", "/api/unrecognized").json()["items"]
    assert json.loads(item["body"]) == body
    assert item["reason"]


def test_deeply_nested_json_is_kept_not_a_500(server: Server) -> None:
    body = b'{"TaskId":"t","TaskStatus":1,"TaskInfo":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    response = server.aliyun(body)
    assert response.status_code == 202, response.text
    [row] = db_rows(server.db, "SELECT body FROM unrecognized")
    assert row["body"] == body


def test_body_at_the_limit_is_accepted(server: Server) -> None:
    prefix = dumps(aliyun_status("big", 1, 1725501000))
    body = prefix + b" " * (MIB - len(prefix))
    assert len(body) == MIB
    ok(server.aliyun(body))


def test_body_over_the_limit_with_content_length_is_413(server: Server) -> None:
    prefix = dumps(aliyun_status("big", 1, 1725501000))
    body = prefix + b" " * (MIB + 1 - len(prefix))
    before = server.counts()
    response = server.aliyun(body)
    assert_error_shape(response, 413, "too_large")
    assert server.counts() == before


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    prefix = dumps(aliyun_status("chunked", 1, 1725501000))
    yield prefix
    sent = len(prefix)
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def test_body_over_the_limit_sent_chunked_is_413(server: Server) -> None:
    before = server.counts()
    request = server.client.build_request(
        "POST", ALIYUN_PATH, params={"token": CALLBACK_TOKEN}, content=_chunks(MIB + 1)
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = server.client.send(request)
    assert_error_shape(response, 413, "too_large")
    assert server.counts() == before
    # The same way of sending, under the limit, is read in full and accepted.
    request = server.client.build_request(
        "POST", ALIYUN_PATH, params={"token": CALLBACK_TOKEN}, content=_chunks(MIB)
    )
    ok(server.client.send(request))
    assert server.task("aliyun", "chunked")["status"] == "running"


def _raw_exchange(server: Server, head: bytes, body_part: bytes) -> tuple[int, dict[str, Any]]:
    """Send a request head and only part of its body; read the answer that comes anyway."""
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body_part)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        header_block, _, rest = data.partition(b"\r\n\r\n")
        lines = header_block.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk
            rest += chunk
    return int(lines[0].split()[1]), json.loads(rest[:length])


def test_oversized_bodies_are_refused_before_they_are_complete(server: Server) -> None:
    target = f"{ALIYUN_PATH}?token={CALLBACK_TOKEN}".encode()
    # Declared too large: refused without reading any of it.
    head = b"POST " + target + b" HTTP/1.1\r\nHost: t\r\nContent-Length: 104857600\r\n\r\n"
    status, body = _raw_exchange(server, head, b"")
    assert status == 413 and body["error"]["code"] == "too_large"
    # Chunked: refused once the count passes the limit, before the body has ended.
    head = b"POST " + target + b" HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    status, body = _raw_exchange(server, head, chunk * 17)  # 1 MiB + 64 KiB, no last chunk
    assert status == 413 and body["error"]["code"] == "too_large"
    assert server.counts()["unrecognized"] == 0
    assert server.client.get("/healthz").status_code == 200


def test_wrong_methods_and_routes_answer_json(server: Server) -> None:
    assert_error_shape(server.client.get(ALIYUN_PATH), 405, "method_not_allowed")
    assert_error_shape(server.client.post("/callbacks/nope"), 404, "not_found")


# --- quarantine replay ----------------------------------------------------------------


def test_replay_after_an_upgrade_ingests_the_kept_body(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"Event": "LivePullToPushPaused", "EventTime": 1725501000, "TaskId": "p"}
    response = server.aliyun(body)
    assert response.status_code == 202
    [item] = server.api("GET", "/api/unrecognized").json()["items"]
    assert_error_shape(server.api("POST", f"/api/unrecognized/{item['id']}/replay"), 422)

    # "Upgrade": a decoder that knows the new event name.
    from receiver import callbacks
    from receiver.decoders.aliyun import decode_aliyun_pull_to_push

    def upgraded(raw: bytes, context: dict[str, str]) -> object:
        patched = json.loads(raw)
        patched["TaskStatus"] = 2
        event = decode_aliyun_pull_to_push(json.dumps(patched).encode(), context)
        return msgspec.structs.replace(event, raw=raw)

    monkeypatch.setitem(callbacks._DECODERS, "aliyun_pull_to_push", upgraded)
    replay = server.api("POST", f"/api/unrecognized/{item['id']}/replay")
    assert replay.status_code == 200, replay.text
    assert replay.json() == {"status": "accepted", "provider": "aliyun", "task_id": "p"}
    task = server.task("aliyun", "p")
    assert task["status"] == "recovering"
    assert json.loads(task["events"][0]["raw"]) == body
    again = server.api("POST", f"/api/unrecognized/{item['id']}/replay")
    assert again.json()["status"] == "duplicate"
    [item] = server.api("GET", "/api/unrecognized").json()["items"]
    assert item["replay_result"] == "duplicate" and item["replayed_at"] is not None


def test_replay_of_unknown_ids(server: Server) -> None:
    for item_id in ("1", "abc", "0", "-1", "9" * 30):
        assert_error_shape(server.api("POST", f"/api/unrecognized/{item_id}/replay"), 404)


# --- group commit -------------------------------------------------------------------------


def test_concurrent_callbacks_share_commits(server: Server) -> None:
    store = server.runtime.store
    assert isinstance(store, SqliteStore | PgStore)
    writer = store.writer
    batches, operations = writer.batches, writer.operations
    total = 400

    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    with httpx.Client(base_url=server.base, timeout=30, limits=limits) as client:

        def send(n: int) -> httpx.Response:
            return client.post(
                ALIYUN_PATH,
                params={"token": CALLBACK_TOKEN},
                content=dumps(aliyun_status(f"g-{n % 40}", 1 + n % 3, 1725500000 + n)),
            )

        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            responses = list(pool.map(send, range(total)))
    assert all(r.status_code == 200 and r.json() == ACCEPTED for r in responses)
    done_ops = writer.operations - operations
    done_batches = writer.batches - batches
    assert done_ops == total
    print("batches", done_batches, "operations", done_ops)
    assert done_batches < done_ops, (done_batches, done_ops)
    assert server.counts()["events"] == total


# --- the CallbackUrl relaywarden prints -----------------------------------------------------


def test_printed_callback_url_authenticates_whatever_the_token(tmp_path: Path) -> None:
    token = "a+b&c=d/é %"
    with running_server(tmp_path, callback_token=token) as server:
        url = server.runtime.callback_url()
        assert url.startswith(f"{server.base}{ALIYUN_PATH}?token=")
        ok(server.client.post(url, content=dumps(SAMPLE)))
        relay_url = server.runtime.callback_url(relay_id="r&1", token=token)
        ok(server.client.post(relay_url, content=dumps(aliyun_status("t2", 1, 1))))
        assert_error_shape(server.aliyun(SAMPLE, token="a b"), 401)


def test_generated_callback_token_is_kept_across_restarts(tmp_path: Path) -> None:
    with running_server(tmp_path, callback_token=None) as server:
        url = server.runtime.callback_url()
        token = server.runtime.callback_token
        assert len(token) >= 32
        ok(server.client.post(url, content=dumps(SAMPLE)))
    with running_server(tmp_path, callback_token=None) as server:
        assert server.runtime.callback_token == token
        # The URL registered before the restart (the port aside) still authenticates.
        query = url.partition("?")[2]
        ok(server.client.post(f"{ALIYUN_PATH}?{query}", content=dumps(SAMPLE)), DUPLICATE)
