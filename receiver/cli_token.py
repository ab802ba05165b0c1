"""``relaywarden token show|rotate``: the callback token, the one way to see it again."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from receiver.cli_client import ApiClient, CommandError
from receiver.cli_output import Printer
from receiver.operator_views import TokenView

__all__ = ["add_token_commands", "token_rotate", "token_show"]


def _print(answer: object, out: Printer) -> None:
    token = msgspec.convert(answer, TokenView)
    if out.as_json:
        out.json(msgspec.to_builtins(token))
        return
    out.facts([("token", token.token), *token.callback_urls.items()])


def token_show(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Print the callback token and the callback URL of each source."""
    _print(api.call("GET", "/api/token"), out)
    return 0


def token_rotate(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Make a new callback token (relays' own CallbackUrls keep working)."""
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError(
                "rotating the token breaks callback URLs that carry it; confirm with --yes"
            )
        if input("Rotate the callback token? [y/N] ").strip().lower() not in ("y", "yes"):
            out.line("not rotated")
            return 1
    _print(api.call("POST", "/api/token/rotate"), out)
    return 0


def add_token_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``token`` command group."""
    token = commands.add_parser("token", help="show or rotate the callback token")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    token_commands.add_parser(
        "show", parents=[common], help="the callback token and each source's callback URL"
    ).set_defaults(command_name="token show")
    rotate = token_commands.add_parser(
        "rotate", parents=[common], help="a new callback token (per-relay URLs keep working)"
    )
    rotate.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rotate.set_defaults(command_name="token rotate")
