"""The OpenAPI description of the operator API, served at ``/openapi.json``.

Request and response schemas come from the Structs the routes decode and encode
(``msgspec.json.schema_components``), so the description cannot drift from the code:
the relay declaration is documented down to every provider parameter.
"""

from __future__ import annotations

import msgspec

from receiver.domain.relay import RelaySpec
from receiver.follow_up_views import WhipRequest, WhipView
from receiver.views import (
    ErrorBody,
    JobView,
    Page,
    QuarantinedView,
    RelayAccepted,
    RelayView,
    ReplayView,
    TaskDetailView,
    TaskView,
)

__all__ = ["OPENAPI", "build_openapi"]

#: A JSON object of the document.
Json = dict[str, object]

_TYPES: tuple[object, ...] = (
    ErrorBody,
    RelaySpec,
    RelayAccepted,
    RelayView,
    Page[RelayView],
    TaskView,
    Page[TaskView],
    TaskDetailView,
    Page[QuarantinedView],
    ReplayView,
    JobView,
    Page[JobView],
    WhipRequest,
    WhipView,
)
_REF = "#/components/schemas/{name}"


def _json(schema: Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _responses(answers: dict[str, Json], errors: dict[str, Json]) -> Json:
    return {**answers, **errors}


def _path_param(name: str, kind: str = "string") -> Json:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _query(name: str, schema: Json) -> Json:
    return {"name": name, "in": "query", "schema": schema}


_PAGE = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
    _query("cursor", {"type": "string"}),
]


def build_openapi() -> Json:
    """The OpenAPI 3.1 document of the ``/api`` routes."""
    refs, components = msgspec.json.schema_components(_TYPES, ref_template=_REF)
    ref = dict(zip(_TYPES, refs, strict=True))
    enum_of = {name: components[name] for name in ("Status", "RelayState", "JobState")}
    errors: dict[str, Json] = {
        "400": _json(ref[ErrorBody], "Bad query or body"),
        "401": _json(ref[ErrorBody], "Missing or wrong bearer token"),
        "404": _json(ref[ErrorBody], "Not found"),
        "503": _json(ref[ErrorBody], "The store is unavailable; retry later"),
    }

    def get(summary: str, params: list[Json], answer: object) -> Json:
        return {
            "summary": summary,
            "parameters": params,
            "responses": _responses({"200": _json(ref[answer], summary)}, errors),
        }

    paths: Json = {
        "/api/tasks": {
            "get": get(
                "Tasks, newest first",
                [
                    _query("provider", {"type": "string", "enum": ["aliyun", "trtc", "tencent"]}),
                    _query("status", enum_of["Status"]),
                    *_PAGE,
                ],
                Page[TaskView],
            )
        },
        "/api/tasks/{provider}/{task_id}": {
            "get": get(
                "One task: state, reason, relay, event history, jobs",
                [_path_param("provider"), _path_param("task_id")],
                TaskDetailView,
            )
        },
        "/api/unrecognized": {
            "get": get("Quarantined callbacks, newest first", _PAGE, Page[QuarantinedView])
        },
        "/api/unrecognized/{id}/replay": {
            "post": {
                "summary": "Decode a quarantined callback again and ingest it",
                "parameters": [_path_param("id", "integer")],
                "responses": _responses(
                    {
                        "200": _json(ref[ReplayView], "Ingested"),
                        "422": _json(ref[ErrorBody], "Still not a known event"),
                    },
                    errors,
                ),
            }
        },
        "/api/relays": {
            "post": {
                "summary": "Declare a relay: pull_to_push (create a task) or adopt (take one over)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref[RelaySpec]}},
                },
                "responses": _responses(
                    {
                        "202": _json(
                            ref[RelayAccepted], "Accepted; a job creates or adopts the task"
                        ),
                        "409": _json(ref[ErrorBody], "Conflicts with an existing relay"),
                        "413": _json(ref[ErrorBody], "Body over 1 MiB"),
                    },
                    errors,
                ),
            },
            "get": get(
                "Relays, newest first",
                [_query("state", enum_of["RelayState"]), *_PAGE],
                Page[RelayView],
            ),
        },
        "/api/relays/{id}": {
            "get": get(
                "One relay: current task, generation, tasks, ingests, state",
                [_path_param("id")],
                RelayView,
            ),
            "delete": {
                "summary": "Stop managing it: delete its task and stop its ingests (a job)",
                "parameters": [_path_param("id")],
                "responses": _responses({"202": _json(ref[RelayAccepted], "Deleting")}, errors),
            },
        },
        "/api/relays/{id}/whip": {
            "post": {
                "summary": "Mint a WHIP backup ingest URL for the relay's ARTC channel",
                "parameters": [_path_param("id")],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": ref[WhipRequest]}},
                },
                "responses": _responses(
                    {
                        "200": _json(ref[WhipView], "The URL, shown this once"),
                        "409": _json(ref[ErrorBody], "The relay declares no artc channel"),
                        "429": _json(ref[ErrorBody], "The provider's budget is spent"),
                        "502": _json(ref[ErrorBody], "The provider refused"),
                    },
                    errors,
                ),
            }
        },
        "/api/jobs": {
            "get": get(
                "Follow-up jobs, newest first",
                [_query("state", enum_of["JobState"]), *_PAGE],
                Page[JobView],
            )
        },
        "/api/jobs/{id}/retry": {
            "post": {
                "summary": "Put a dead job back in the queue",
                "parameters": [_path_param("id", "integer")],
                "responses": _responses(
                    {
                        "200": _json(ref[JobView], "The job, pending again"),
                        "409": _json(ref[ErrorBody], "The job is not dead"),
                    },
                    errors,
                ),
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "relaywarden", "version": "0.1.0"},
        "components": {
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
            "schemas": components,
        },
        "security": [{"admin": []}],
        "paths": paths,
    }


#: Built once at import: the types do not change while the process runs.
OPENAPI = build_openapi()
