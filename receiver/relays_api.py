"""``/api/relays``: declare, list, inspect and stop managing relays."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.api import BadQuery, iso_time, parse_limit
from receiver.auth import relay_callback_token
from receiver.http import (
    BodyTooLarge,
    ClientDisconnect,
    error_response,
    json_response,
    read_body_limited,
)
from receiver.logs import redact_url
from receiver.relay_model import (
    RelayRequest,
    missing_config_keys,
    parse_provider_time,
    redact_ingest,
)
from receiver.runtime import Runtime, runtime_of
from receiver.store.base import JobSpec, StoreUnavailable
from receiver.store.jobs import enqueue_job
from receiver.store.relays import (
    RELAY_STATES,
    add_ingest,
    create_relay,
    get_relay,
    ingests_of,
    list_relays,
    new_relay_id,
    update_relay,
)
from receiver.store.rows import now_ms, rows

__all__ = ["relay_callback_url", "relay_routes", "validate_relay_request"]

_DECODER = msgspec.json.Decoder(RelayRequest)


def relay_callback_url(runtime: Runtime, relay_id: str, region: str) -> str:
    """The CallbackUrl relaywarden registers for a relay's tasks (per-relay token)."""
    token = relay_callback_token(runtime.callback_token, relay_id)
    return f"{runtime.callback_url(relay_id=relay_id, token=token)}&region={quote(region, safe='')}"


def validate_relay_request(request: RelayRequest) -> str | None:
    """A message saying what is wrong with a relay declaration, or None."""
    if not request.name.strip():
        return "name must not be empty"
    if (request.pull_to_push is None) == (request.adopt is None):
        return "give exactly one of pull_to_push (create a task) or adopt (take one over)"
    if request.pull_to_push is not None:
        config = request.pull_to_push
        missing = missing_config_keys(config)
        if missing:
            return f"pull_to_push lacks {', '.join(missing)}"
        urls = config["SourceUrls"]
        if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
            return "pull_to_push.SourceUrls must be a list of URLs"
        if "CallbackUrl" in config:
            return "pull_to_push.CallbackUrl is set by relaywarden; leave it out"
        end = parse_provider_time(config["EndTime"])
        if end is None:
            return "pull_to_push.EndTime must look like 2026-11-22T12:00:00Z"
        if end <= datetime.now(UTC):
            return "pull_to_push.EndTime is in the past"
        if "StartTime" in config and parse_provider_time(config["StartTime"]) is None:
            return "pull_to_push.StartTime must look like 2026-11-22T10:00:00Z"
    ingest = request.trtc_ingest
    if ingest is not None:
        if not isinstance(ingest.get("SdkAppId"), int):
            return "trtc_ingest.SdkAppId must be an integer"
        if "TaskId" not in ingest:
            needed = ("RoomId", "RoomIdType", "UserId", "UserSig", "StreamUrl")
            lacking = [k for k in needed if ingest.get(k) in (None, "")]
            if lacking:
                return (
                    "trtc_ingest needs either TaskId (link a running ingest) or start "
                    f"parameters; missing {', '.join(lacking)}"
                )
    return None


def _relay_view(relay: dict[str, Any], links: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": relay["id"],
        "name": relay["name"],
        "state": relay["state"],
        "origin": relay["origin"],
        "region": relay["region"],
        "current_task_id": relay["current_task_id"],
        "generation": relay["generation"],
        "pull_to_push": relay["pull_to_push"],
        "trtc_ingest": redact_ingest(relay["trtc_ingest"]),
        "recreate": relay["recreate"],
        "recreate_attempts": [iso_time(t) for t in relay["recreate_attempts"]],
        "failure_reason": relay["failure_reason"],
        "ingests": [
            {
                "sdk_app_id": link["sdk_app_id"],
                "task_id": link["task_id"],
                "state": link["state"],
                "owned": bool(link["owned"]),
            }
            for link in links
        ],
        "created_at": iso_time(relay["created_at_ms"]),
        "updated_at": iso_time(relay["updated_at_ms"]),
    }


async def create(request: Request) -> Response:
    """``POST /api/relays``: 202 with ``{"id", "state", "callback_url"}``."""
    runtime = runtime_of(request)
    try:
        body = await read_body_limited(request, runtime.settings.max_body_bytes)
    except BodyTooLarge:
        return error_response(413, "too_large", "relay declarations are limited to 1 MiB")
    except ClientDisconnect:
        return error_response(400, "disconnected", "the client disconnected mid-body")
    try:
        declared = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        return error_response(400, "invalid_relay", f"relay declaration rejected: {exc}")
    problem = validate_relay_request(declared)
    if problem is not None:
        return error_response(400, "invalid_relay", problem)
    relay_id = new_relay_id()
    adopt = declared.adopt
    config = declared.pull_to_push or {}
    region = adopt.Region if adopt is not None else str(config["Region"])
    ingest = declared.trtc_ingest
    start_params = ingest if ingest is not None and "TaskId" not in ingest else None
    policy = msgspec.structs.asdict(declared.recreate)

    def insert(conn: sqlite3.Connection) -> dict[str, Any]:
        now = now_ms()
        relay = create_relay(
            conn,
            relay_id=relay_id,
            name=declared.name.strip(),
            state="pending",
            origin="adopted" if adopt is not None else "declared",
            region=region,
            pull_to_push=dict(declared.pull_to_push or {"Region": region}),
            trtc_ingest=start_params,
            recreate=policy,
        )
        if ingest is not None and "TaskId" in ingest:
            add_ingest(
                conn,
                relay_id,
                sdk_app_id=int(ingest["SdkAppId"]),
                task_id=str(ingest["TaskId"]),
                state="running",
                owned=False,
            )
        if adopt is not None:
            spec = JobSpec(
                action="adopt_task",
                relay_id=relay_id,
                provider="aliyun",
                task_id=adopt.TaskId,
                payload={"task_id": adopt.TaskId, "region": adopt.Region},
            )
        else:
            spec = JobSpec(action="create_task", relay_id=relay_id)
        enqueue_job(conn, spec, now=now)
        return relay

    try:
        relay = await runtime.store.write(insert)
    except sqlite3.IntegrityError as exc:
        return error_response(409, "conflict", f"relay conflicts with an existing one: {exc}")
    except StoreUnavailable as exc:
        return error_response(503, "store_unavailable", f"{exc}; retry later")
    url = relay_callback_url(runtime, relay_id, region)
    return json_response(
        {"id": relay["id"], "state": relay["state"], "callback_url": redact_url(url)}, 202
    )


async def list_all(request: Request) -> Response:
    """``GET /api/relays?state=&limit=&cursor=``."""
    state = request.query_params.get("state") or None
    if state is not None and state not in RELAY_STATES:
        return error_response(400, "bad_query", f"state must be one of {', '.join(RELAY_STATES)}")
    raw_cursor = request.query_params.get("cursor") or None
    try:
        limit = parse_limit(request)
    except BadQuery as exc:
        return error_response(400, "bad_query", str(exc))
    if raw_cursor is not None and ":" not in raw_cursor:
        return error_response(400, "bad_query", "cursor must be a value returned as next_cursor")

    def load(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], str | None]:
        found = list_relays(conn, state=state, limit=limit, cursor=raw_cursor)
        last = f"{found[-1]['created_at_ms']}:{found[-1]['id']}" if len(found) == limit else None
        return [_relay_view(r, ingests_of(conn, r["id"])) for r in found], last

    try:
        items, next_cursor = await runtime_of(request).store.read(load)
    except ValueError:
        return error_response(400, "bad_query", "cursor must be a value returned as next_cursor")
    return json_response({"items": items, "next_cursor": next_cursor})


async def get_one(request: Request) -> Response:
    """``GET /api/relays/{id}``: the relay, its ingests and its tasks."""
    relay_id = request.path_params["relay_id"]

    def load(conn: sqlite3.Connection) -> dict[str, Any] | None:
        relay = get_relay(conn, relay_id)
        if relay is None:
            return None
        view = _relay_view(relay, ingests_of(conn, relay_id))
        view["tasks"] = [
            {
                "task_id": t["task_id"],
                "generation": t["generation"],
                "retired_by_us": bool(t["retired_by_us"]),
                "status": t["status"],
            }
            for t in rows(
                conn.execute(
                    "SELECT rt.task_id, rt.generation, rt.retired_by_us, t.status "
                    "FROM relay_tasks rt LEFT JOIN tasks t "
                    "ON t.provider = rt.provider AND t.task_id = rt.task_id "
                    "WHERE rt.relay_id = ? ORDER BY rt.generation",
                    (relay_id,),
                )
            )
        ]
        return view

    view = await runtime_of(request).store.read(load)
    if view is None:
        return error_response(404, "not_found", f"no relay {relay_id!r}")
    return json_response(view)


async def delete(request: Request) -> Response:
    """``DELETE /api/relays/{id}``: delete its current task and stop its ingests (a job)."""
    relay_id = request.path_params["relay_id"]

    def mark(conn: sqlite3.Connection) -> dict[str, Any] | None:
        relay = get_relay(conn, relay_id)
        if relay is None or relay["state"] in ("deleting", "deleted"):
            return relay
        update_relay(conn, relay_id, state="deleting")
        enqueue_job(conn, JobSpec(action="delete_task", relay_id=relay_id), now=now_ms())
        return get_relay(conn, relay_id)

    try:
        relay = await runtime_of(request).store.write(mark)
    except StoreUnavailable as exc:
        return error_response(503, "store_unavailable", f"{exc}; retry later")
    if relay is None:
        return error_response(404, "not_found", f"no relay {relay_id!r}")
    return json_response({"id": relay_id, "state": relay["state"]}, 202)


def relay_routes() -> list[Route]:
    """The relay routes."""
    return [
        Route("/api/relays", create, methods=["POST"]),
        Route("/api/relays", list_all, methods=["GET"]),
        Route("/api/relays/{relay_id}", get_one, methods=["GET"]),
        Route("/api/relays/{relay_id}", delete, methods=["DELETE"]),
    ]
