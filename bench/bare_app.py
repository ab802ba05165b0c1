"""The throughput baseline (served next to relaywarden by ``bench/servers.py``): a bare endpoint.

Served by uvicorn with the same settings as ``relaywarden serve`` (see ``receiver/cli.py``),
on the same path, reading the body as relaywarden does, and nothing else.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def callback(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":"accepted"}', 200, media_type="application/json")


app = Starlette(routes=[Route("/callbacks/aliyun/pull-to-push", callback, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
