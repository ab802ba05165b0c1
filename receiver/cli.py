"""The ``relaywarden`` command."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from receiver.build_info import register_build_info, relaywarden_version
from receiver.cli_client import ApiClient, CommandError, default_api_url
from receiver.cli_commands import COMMANDS, add_admin_commands
from receiver.cli_output import Printer
from receiver.config import ConfigError, Settings
from receiver.logs import configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relaywarden",
        description="Keep live-stream relays alive. `serve` runs the service; the other "
        "commands talk to a running service's API (RELAYWARDEN_API_URL, default the local "
        "serve address) with RELAYWARDEN_ADMIN_TOKEN.",
    )
    parser.add_argument(
        "--version", action="version", version=f"relaywarden {relaywarden_version()}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="receive callbacks and run follow-up jobs",
        description="Serve callbacks, the API and metrics. One process owns the SQLite "
        "store (a single writer thread); with a postgresql:// RELAYWARDEN_DATABASE_URL, "
        "several replicas share one database.",
    )
    serve.add_argument("--host", help="listen address (RELAYWARDEN_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (RELAYWARDEN_PORT, default 8080)")
    serve.add_argument(
        "--new-token",
        action="store_true",
        help="make a new callback token even though the store already holds relays or "
        "events (CallbackUrls registered with a lost token stop working)",
    )
    demo = commands.add_parser(
        "demo",
        help="try relaywarden without a cloud account: simulated provider, relays that fail "
        "and heal",
        description="Start relaywarden on loopback against a simulated Alibaba Live API in a "
        "fresh data directory, declare a few relays, and fail one now and then: watch it heal "
        "on the status page and with the CLI (the demo prints the URL and admin token). "
        "Ctrl-C stops it.",
    )
    demo.add_argument("--port", type=int, default=8080, help="status page port (0: any free)")
    demo.add_argument("--data-dir", type=Path, help="where the demo keeps its database")
    demo.add_argument(
        "--fail-after", type=float, default=3.0, help="seconds from all running to a failure"
    )
    demo.add_argument(
        "--fail-every",
        type=float,
        default=30.0,
        help="seconds between failures of the next relay (0: fail one relay once)",
    )
    commands.add_parser(
        "migrate",
        help="bring the database schema to this version, then exit",
        description="Run the schema migrations of RELAYWARDEN_DATABASE_URL (serve also runs "
        "them on start when the schema is behind).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument(
        "--api-url",
        help="the service's base URL (RELAYWARDEN_API_URL, default the local serve address)",
    )
    add_admin_commands(commands, common)
    return parser


def run_admin_command(args: argparse.Namespace) -> int:
    """Run an admin command against the API; 1 with a message on stderr when it fails."""
    out = Printer(as_json=args.json)
    url = (args.api_url or default_api_url()).rstrip("/")
    try:
        with ApiClient(url, os.environ.get("RELAYWARDEN_ADMIN_TOKEN") or None) as api:
            return COMMANDS[args.command_name](args, api, out)
    except CommandError as exc:
        print(f"relaywarden: {exc}", file=sys.stderr)
        return 1


def migrate(settings: Settings) -> int:
    """Run the migrations of the configured database and say what changed."""
    from receiver.config import is_postgres_url, sqlite_path_from_url
    from receiver.store.select import describe_database, migrate_database

    where = describe_database(settings.database_url)
    try:
        if not is_postgres_url(settings.database_url):
            Path(sqlite_path_from_url(settings.database_url)).parent.mkdir(
                parents=True, exist_ok=True
            )
        before, after = migrate_database(settings.database_url)
    except Exception as exc:  # any driver error: one line for the operator, exit 1
        print(f"relaywarden: cannot migrate {where}: {exc}", file=sys.stderr)
        return 1
    change = f"from version {before} to {after}" if before != after else f"already at {after}"
    print(f"relaywarden: schema of {where} {change}", file=sys.stderr)
    return 0


def serve(settings: Settings) -> int:
    """Run uvicorn with the full app until interrupted (one worker: see ``store.lock``)."""
    from handlers.rules import RulesFileError
    from receiver.assembly import build_app
    from receiver.config import is_postgres_url, sqlite_path_from_url
    from receiver.server import run_server
    from receiver.store.lock import StoreLocked, hold_store_lock

    register_build_info()
    try:
        app = build_app(settings)
    except RulesFileError as exc:
        print(f"relaywarden: bad rules file: {exc}", file=sys.stderr)
        return 2
    try:
        # SQLite: one process owns the file. PostgreSQL: replicas share the database.
        url = settings.database_url
        shared = is_postgres_url(url)
        if not shared:
            Path(sqlite_path_from_url(url)).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.nullcontext() if shared else hold_store_lock(sqlite_path_from_url(url)):
            run_server(app, settings)
    except StoreLocked as exc:
        print(f"relaywarden: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"relaywarden: cannot open the store: {exc}", file=sys.stderr)
        return 2
    return 0


def demo(args: argparse.Namespace) -> int:
    """``relaywarden demo``: its own settings (the environment's are not used)."""
    import asyncio

    from receiver.demo.run import DemoOptions, run_demo

    # The story goes to stdout; of the service's own log, only warnings and errors.
    configure_logging("console", logging.WARNING)
    options = DemoOptions(args.port, args.data_dir, args.fail_after, args.fail_every)
    return asyncio.run(run_demo(options, lambda text: print(text, flush=True)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return demo(args)
    if args.command not in ("serve", "migrate"):
        return run_admin_command(args)
    try:
        settings = Settings.from_env()
        overrides = {}
        if getattr(args, "host", None):
            overrides["host"] = args.host
        if getattr(args, "port", None) is not None:
            overrides["port"] = args.port
        if getattr(args, "new_token", False):
            overrides["new_token"] = True
        if overrides:
            settings = Settings(**{**_as_dict(settings), **overrides})
        settings.check_exposure()
    except ConfigError as exc:
        print(f"relaywarden: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, logging.getLevelName(settings.log_level.upper()))
    structlog.get_logger("relaywarden").debug("configured")
    if args.command == "migrate":
        return migrate(settings)
    return serve(settings)


def _as_dict(settings: Settings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


if __name__ == "__main__":
    raise SystemExit(main())
