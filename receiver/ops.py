"""Operational routes: liveness, readiness, metrics, OpenAPI schema."""

from __future__ import annotations

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.http import json_response
from receiver.metrics import REGISTRY
from receiver.openapi import OPENAPI
from receiver.runtime import runtime_of
from receiver.store.hardening_interface import CommitHealth

__all__ = ["ops_routes"]


async def healthz(request: Request) -> Response:
    """``GET /healthz``: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """``GET /readyz``: the store answers and commits, and every background worker runs.

    While writes fail (disk full, a read-only file) it answers 503 with a
    ``commit_failure`` problem, until a write commits again.
    """
    runtime = runtime_of(request)
    problems: list[str] = []
    if not runtime.store.alive:
        problems.append("store writer is not running")
    else:
        try:
            await runtime.store.ping()
        except Exception as exc:
            problems.append(f"store is not reachable: {exc}")
    failure = runtime.store.commit_failure if isinstance(runtime.store, CommitHealth) else None
    if failure is not None:
        problems.append(f"commit_failure: the store cannot commit writes: {failure}")
    problems.extend(f"{s.name} is not running" for s in runtime.services if not s.running)
    if problems:
        return json_response({"status": "unavailable", "problems": problems}, 503)
    return json_response({"status": "ready"})


async def metrics(request: Request) -> Response:
    """``GET /metrics`` in the Prometheus text format (store gauges are read in a thread)."""
    payload = await anyio.to_thread.run_sync(generate_latest, REGISTRY)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``."""
    return json_response(OPENAPI)


def ops_routes() -> list[Route]:
    """Liveness, readiness, metrics and schema routes."""
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
