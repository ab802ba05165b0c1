"""``relaywarden forwards``: the callbacks forwarded to ``RELAYWARDEN_FORWARD_URL``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from receiver.cli_client import ApiClient, CommandError
from receiver.cli_output import Printer
from receiver.domain.forwards import ForwardState
from receiver.timefmt import iso_time

__all__ = ["FORWARD_COMMANDS", "add_forward_commands", "forwards_list", "forwards_retry"]


def _row(forward: dict[str, Any]) -> list[Any]:
    return [
        forward["id"],
        forward["event_id"],
        forward["source"],
        forward["state"],
        forward["attempts"],
        iso_time(forward["due_at_ms"]),
        forward["last_error"],
    ]


def forwards_list(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Forwards newest first (``--state dead``: the dead letters)."""
    params = {"state": args.state} if args.state else {}
    items = list(api.pages("/api/forwards", params, limit=args.limit))
    out.listing(items, ["id", "event", "source", "state", "attempts", "due", "last error"], _row)
    return 0


def forwards_retry(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Send one dead forward, or every dead forward, again."""
    if args.all_dead == (args.id is not None):
        raise CommandError("give either a forward id or --all-dead")
    if args.id is not None:
        forward = api.call("POST", f"/api/forwards/{args.id}/retry")
        out.result(forward, f"forward #{forward['id']} is {forward['state']} again")
        return 0
    retried = api.retry_all("/api/forwards/retry-dead")
    out.retried(retried, "forward")
    return 0


FORWARD_COMMANDS: dict[str, Callable[[argparse.Namespace, ApiClient, Printer], int]] = {
    "forwards list": forwards_list,
    "forwards retry": forwards_retry,
}


def add_forward_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``forwards`` command group."""
    forwards = commands.add_parser(
        "forwards", help="list callbacks forwarded to RELAYWARDEN_FORWARD_URL or retry dead ones"
    )
    sub = forwards.add_subparsers(dest="forwards_command", required=True)
    listing = sub.add_parser("list", parents=[common], help="forwards, newest first")
    listing.add_argument("--state", choices=[s.value for s in ForwardState])
    listing.add_argument("--limit", type=int, default=100, help="at most this many")
    listing.set_defaults(command_name="forwards list")
    retry = sub.add_parser("retry", parents=[common], help="send dead forwards again")
    retry.add_argument("id", nargs="?", type=int, help="the dead forward to send again")
    retry.add_argument("--all-dead", action="store_true", help="send every dead forward again")
    retry.set_defaults(command_name="forwards retry")
