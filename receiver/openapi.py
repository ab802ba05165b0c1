"""The OpenAPI description of the operator API, served at ``/openapi.json``.

Request and response schemas come from the Structs the routes decode and encode
(``msgspec.json.schema_components``), so the description cannot drift from the code:
the relay declaration is documented down to every provider parameter.
"""

from __future__ import annotations

import msgspec

from receiver.domain.forwards import ForwardRecord
from receiver.domain.relay import RelaySpec
from receiver.domain.states import JobAction
from receiver.follow_up_views import WhipRequest, WhipView
from receiver.forwards_api import RetriedForwards
from receiver.operator_views import (
    EventReplayView,
    FoundEventView,
    RelayDeclared,
    RetriedJobs,
    TokenView,
)
from receiver.orphans import OrphanList
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
    OrphanList,
    RelayDeclared,
    Page[FoundEventView],
    EventReplayView,
    RetriedJobs,
    TokenView,
    WhipRequest,
    WhipView,
    ForwardRecord,
    Page[ForwardRecord],
    RetriedForwards,
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
    enum_of = {
        name: components[name]
        for name in ("Status", "RelayState", "JobState", "Provider", "ForwardState")
    }
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

    def operation(
        summary: str,
        params: list[Json],
        answers: dict[str, tuple[object, str]],
        *,
        body: object | None = None,
        body_required: bool = True,
    ) -> Json:
        """An operation whose answers are ``{status: (type, description)}``, with a JSON
        request ``body`` of that type when one is given."""
        described: Json = {
            "summary": summary,
            "parameters": params,
            "responses": _responses(
                {code: _json(ref[kind], text) for code, (kind, text) in answers.items()}, errors
            ),
        }
        if body is not None:
            content = {"application/json": {"schema": ref[body]}}
            described["requestBody"] = {"required": body_required, "content": content}
        return described

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
                "One task: state, reason, relay, one page of its event history, jobs",
                [_path_param("provider"), _path_param("task_id"), *_PAGE],
                TaskDetailView,
            )
        },
        "/api/unrecognized": {
            "get": get("Quarantined callbacks, newest first", _PAGE, Page[QuarantinedView])
        },
        "/api/unrecognized/{id}/replay": {
            "post": operation(
                "Decode a quarantined callback again and ingest it",
                [_path_param("id", "integer")],
                {"200": (ReplayView, "Ingested"), "422": (ErrorBody, "Still not a known event")},
            )
        },
        "/api/relays": {
            "post": operation(
                "Declare a relay: pull_to_push (create a task) or adopt (take one over)",
                [],
                {
                    "202": (RelayAccepted, "Accepted; a job creates or adopts the task"),
                    "409": (ErrorBody, "Conflicts with an existing relay"),
                    "413": (ErrorBody, "Body over 1 MiB"),
                },
                body=RelaySpec,
            ),
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
            "delete": operation(
                "Stop managing it: delete its task and stop its ingests (a job)",
                [_path_param("id")],
                {"202": (RelayAccepted, "Deleting")},
            ),
            "put": operation(
                "Declare the relay of this name: created, updated or unchanged",
                [_path_param("id")],
                {
                    "200": (RelayDeclared, "Updated or unchanged"),
                    "201": (RelayDeclared, "Created; a job creates or adopts"),
                    "409": (ErrorBody, "Cannot describe the existing relay"),
                },
                body=RelaySpec,
            ),
        },
        "/api/events": {
            "get": get(
                "Stored events of every task, newest first",
                [
                    _query("provider", enum_of["Provider"]),
                    _query("task", {"type": "string"}),
                    _query("relay", {"type": "string"}),
                    _query("kind", {"type": "string"}),
                    _query("since", {"type": "string", "description": "ISO 8601 or ms"}),
                    _query("until", {"type": "string", "description": "ISO 8601 or ms"}),
                    *_PAGE,
                ],
                Page[FoundEventView],
            )
        },
        "/api/events/{id}/replay": {
            "post": operation(
                "Ingest a stored event again as a new event (noted as a replay)",
                [_path_param("id", "integer")],
                {
                    "200": (EventReplayView, "Ingested"),
                    "422": (ErrorBody, "The body no longer decodes"),
                },
            )
        },
        "/api/jobs/retry-dead": {
            "post": operation(
                "Put dead jobs back in the queue (oldest first, at most limit)",
                [
                    _query("relay", {"type": "string"}),
                    _query("action", {"type": "string", "enum": [a.value for a in JobAction]}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                ],
                {"200": (RetriedJobs, "Retried")},
            )
        },
        "/api/token": {"get": get("The callback token and each source's URL", [], TokenView)},
        "/api/token/rotate": {
            "post": operation(
                "A new callback token; per-relay CallbackUrls keep working",
                [],
                {
                    "200": (TokenView, "The new token"),
                    "409": (ErrorBody, "Set by RELAYWARDEN_CALLBACK_TOKEN"),
                },
            )
        },
        "/api/relays/{id}/whip": {
            "post": operation(
                "Mint a WHIP backup ingest URL for the relay's ARTC channel",
                [_path_param("id")],
                {
                    "200": (WhipView, "The URL, shown this once"),
                    "409": (ErrorBody, "The relay declares no artc channel"),
                    "429": (ErrorBody, "The provider's budget is spent"),
                    "502": (ErrorBody, "The provider refused"),
                },
                body=WhipRequest,
                body_required=False,
            )
        },
        "/api/jobs": {
            "get": get(
                "Follow-up jobs, newest first",
                [_query("state", enum_of["JobState"]), *_PAGE],
                Page[JobView],
            )
        },
        "/api/orphans": {
            "get": get(
                "Provider tasks calling back here that no relay knows (the last sweep's)",
                [],
                OrphanList,
            )
        },
        "/api/jobs/{id}/retry": {
            "post": operation(
                "Put a dead job back in the queue",
                [_path_param("id", "integer")],
                {
                    "200": (JobView, "The job, pending again"),
                    "409": (ErrorBody, "The job is not dead"),
                },
            )
        },
        "/api/forwards": {
            "get": get(
                "Callbacks forwarded to RELAYWARDEN_FORWARD_URL, newest first (state=dead: "
                "the dead letters)",
                [_query("state", enum_of["ForwardState"]), *_PAGE],
                Page[ForwardRecord],
            )
        },
        "/api/forwards/{id}": {
            "get": get("One forward", [_path_param("id", "integer")], ForwardRecord)
        },
        "/api/forwards/{id}/retry": {
            "post": operation(
                "Send a dead forward again",
                [_path_param("id", "integer")],
                {
                    "200": (ForwardRecord, "The forward, pending again"),
                    "409": (ErrorBody, "The forward is not dead"),
                },
            )
        },
        "/api/forwards/retry-dead": {
            "post": operation(
                "Send dead forwards again (oldest first, at most limit)",
                [_query("limit", {"type": "integer", "minimum": 1, "maximum": 500})],
                {"200": (RetriedForwards, "Retried")},
            )
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
