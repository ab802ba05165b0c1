"""``relaywarden events search``: the stored events of every task, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from receiver.cli_client import ApiClient
from receiver.cli_output import Printer
from receiver.domain.states import EventKind, Provider

__all__ = ["add_event_commands", "events_search"]

_FILTERS = ("provider", "task", "relay", "kind", "since", "until")


def events_search(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Events matching the filters given, newest first (at most ``--limit``)."""
    params = {name: str(value) for name in _FILTERS if (value := getattr(args, name))}
    items = list(api.pages("/api/events", params, limit=args.limit))
    out.listing(
        items,
        ["id", "received", "provider", "task", "kind", "status", "reason", "applied"],
        lambda e: [
            e["id"],
            e["received_at"],
            e["provider"],
            e["task_id"],
            e["kind"],
            e["status"],
            e["reason"],
            "yes" if e["applied"] else "no",
        ],
    )
    return 0


def add_event_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``events`` command group."""
    events = commands.add_parser("events", help="search stored events")
    event_commands = events.add_subparsers(dest="events_command", required=True)
    search = event_commands.add_parser("search", parents=[common], help="events, newest first")
    search.add_argument("--provider", choices=[p.value for p in Provider])
    search.add_argument("--task", help="a provider task id")
    search.add_argument("--relay", help="a relay id: the events of all its tasks and ingests")
    search.add_argument("--kind", choices=[k.value for k in EventKind])
    search.add_argument("--since", help="received at or after (2026-11-22T10:00:00Z or ms)")
    search.add_argument("--until", help="received before (2026-11-22T12:00:00Z or ms)")
    search.add_argument("--limit", type=int, default=100, help="at most this many")
    search.set_defaults(command_name="events search")
