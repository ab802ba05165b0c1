"""The OpenAPI description of the operator API, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]


def _error() -> dict[str, Any]:
    return {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = {
    "400": _json(_error(), "Bad query or body"),
    "401": _json(_error(), "Missing or wrong bearer token"),
    "404": _json(_error(), "Not found"),
}
_PAGE_REF = {"200": _json({"$ref": "#/components/schemas/Page"}, "A page"), **_ERR}


def _path_param(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


_PAGE = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "relaywarden", "version": "0.1.0"},
    "components": {
        "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "Task": {
                "type": "object",
                "properties": {
                    "provider": {"type": "string", "enum": ["aliyun", "trtc", "tencent"]},
                    "task_id": {"type": "string"},
                    "status": {"type": "string"},
                    "reason": {"type": ["string", "null"]},
                    "first_seen": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                },
            },
            "Page": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"type": "object"}},
                    "next_cursor": {"type": ["string", "null"]},
                },
            },
        },
    },
    "security": [{"admin": []}],
    "paths": {
        "/api/tasks": {
            "get": {
                "summary": "Tasks, newest first",
                "parameters": [
                    {"name": "provider", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    *_PAGE,
                ],
                "responses": _PAGE_REF,
            }
        },
        "/api/tasks/{provider}/{task_id}": {
            "get": {
                "summary": "One task: state, reason, relay, event history, jobs",
                "parameters": [_path_param("provider"), _path_param("task_id")],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Task"}, "The task"),
                    **_ERR,
                },
            }
        },
        "/api/unrecognized": {
            "get": {
                "summary": "Quarantined callbacks, newest first",
                "parameters": _PAGE,
                "responses": _PAGE_REF,
            }
        },
        "/api/unrecognized/{id}/replay": {
            "post": {
                "summary": "Decode a quarantined callback again and ingest it",
                "parameters": [_path_param("id", "integer")],
                "responses": {
                    "200": _json({"type": "object"}, "Ingested"),
                    "422": _json(_error(), "Still not a known event"),
                    **_ERR,
                },
            }
        },
        "/api/relays": {
            "post": {
                "summary": "Declare a relay: pull_to_push (create a task) or adopt (take one over)",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "202": _json(
                        {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "state": {"type": "string"},
                                "callback_url": {"type": "string"},
                            },
                        },
                        "Accepted; a job creates or adopts the task",
                    ),
                    **_ERR,
                },
            },
            "get": {
                "summary": "Relays, newest first",
                "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string"}},
                    *_PAGE,
                ],
                "responses": _PAGE_REF,
            },
        },
        "/api/relays/{id}": {
            "get": {
                "summary": "One relay: current task, generation, tasks, ingests, state",
                "parameters": [_path_param("id")],
                "responses": {"200": _json({"type": "object"}, "The relay"), **_ERR},
            },
            "delete": {
                "summary": "Stop managing it: delete its task and stop its ingests (a job)",
                "parameters": [_path_param("id")],
                "responses": {"202": _json({"type": "object"}, "Deleting"), **_ERR},
            },
        },
        "/api/jobs": {
            "get": {
                "summary": "Follow-up jobs, newest first",
                "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string"}},
                    *_PAGE,
                ],
                "responses": _PAGE_REF,
            }
        },
        "/api/jobs/{id}/retry": {
            "post": {
                "summary": "Put a dead job back in the queue",
                "parameters": [_path_param("id", "integer")],
                "responses": {
                    "200": _json({"type": "object"}, "The job, pending again"),
                    "409": _json(_error(), "The job is not dead"),
                    **_ERR,
                },
            }
        },
    },
}
