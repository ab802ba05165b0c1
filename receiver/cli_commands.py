"""Admin commands of the ``relaywarden`` CLI, each a few calls to the running service's API."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from receiver.cli_client import ApiClient, CommandError
from receiver.cli_declare import add_declare_commands, relays_apply
from receiver.cli_events import add_event_commands, events_search
from receiver.cli_forwards import FORWARD_COMMANDS, add_forward_commands
from receiver.cli_output import Printer
from receiver.cli_token import add_token_commands, token_rotate, token_show
from receiver.domain.states import JobState, RelayState

__all__ = ["COMMANDS", "add_admin_commands"]

JOB_STATES = tuple(s.value for s in JobState)
RELAY_STATES = tuple(s.value for s in RelayState)
#: What ``POST /api/jobs/retry-dead`` retries at most per call.
RETRY_BATCH = 500

Command = Callable[[argparse.Namespace, ApiClient, Printer], int]


def status(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Health, readiness, relays by state and open/dead jobs; exit 1 when not ready."""
    health = api.call("GET", "/healthz")
    ready = api.call("GET", "/readyz", accept=(503,))
    relays = Counter(r["state"] for r in api.pages("/api/relays"))
    jobs = {s: sum(1 for _ in api.pages("/api/jobs", {"state": s})) for s in JOB_STATES[:2]}
    jobs["dead"] = sum(1 for _ in api.pages("/api/jobs", {"state": "dead"}))
    is_ready = ready.get("status") == "ready"
    if out.as_json:
        out.json(
            {
                "api_url": api.base_url,
                "health": health.get("status"),
                "ready": is_ready,
                "problems": ready.get("problems", []),
                "relays": {s: relays.get(s, 0) for s in RELAY_STATES},
                "jobs": jobs,
            }
        )
        return 0 if is_ready else 1
    by_state = ", ".join(f"{s} {relays[s]}" for s in RELAY_STATES if relays.get(s))
    out.facts(
        [
            ("api", api.base_url),
            ("health", health.get("status")),
            ("readiness", ready.get("status")),
            *(("problem", p) for p in ready.get("problems", [])),
            ("relays", f"{sum(relays.values())}" + (f" ({by_state})" if by_state else "")),
            ("jobs", ", ".join(f"{s} {n}" for s, n in jobs.items())),
        ]
    )
    return 0 if is_ready else 1


def relays_list(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Relays, newest first."""
    params = {"state": args.state} if args.state else {}
    items = list(api.pages("/api/relays", params, limit=args.limit))
    out.listing(
        items,
        ["id", "name", "state", "task", "region", "gen", "ingests", "failure"],
        lambda r: [
            r["id"],
            r["name"],
            r["state"],
            r["current_task_id"],
            r["region"],
            r["generation"],
            ", ".join(f"{i['task_id'] or 'pending'} ({i['state']})" for i in r["ingests"]),
            r["failure_reason"],
        ],
    )
    return 0


def relays_show(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """One relay: its facts, its tasks and its ingests."""
    relay = api.call("GET", f"/api/relays/{_segment(args.id)}")
    if out.as_json:
        out.json(relay)
        return 0
    config = relay.get("pull_to_push") or {}
    out.facts(
        [
            ("id", relay["id"]),
            ("name", relay["name"]),
            ("state", relay["state"]),
            ("origin", relay["origin"]),
            ("region", relay["region"]),
            ("task", relay["current_task_id"]),
            ("generation", relay["generation"]),
            ("DstUrl", config.get("DstUrl")),
            ("EndTime", config.get("EndTime")),
            ("failure", relay["failure_reason"]),
            ("created", relay["created_at"]),
            ("updated", relay["updated_at"]),
        ]
    )
    if relay.get("tasks"):
        out.line()
        out.table(
            ["task", "generation", "status", "retired by us"],
            [
                [t["task_id"], t["generation"], t["status"], t["retired_by_us"]]
                for t in relay["tasks"]
            ],
        )
    if relay.get("ingests"):
        out.line()
        out.table(
            ["ingest", "sdk app", "state", "owned"],
            [[i["task_id"], i["sdk_app_id"], i["state"], i["owned"]] for i in relay["ingests"]],
        )
    return 0


def relays_delete(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Stop managing a relay (its task is deleted and its ingests stopped by a job)."""
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("deleting a relay deletes its provider task; confirm with --yes")
        answer = input(f"Delete relay {args.id} and its provider task? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            out.line("not deleted")
            return 1
    result = api.call("DELETE", f"/api/relays/{_segment(args.id)}")
    out.result(result, f"relay {result['id']} is {result['state']}")
    return 0


def _job_row(job: dict[str, Any]) -> list[Any]:
    return [
        job["id"],
        job["action"],
        job["state"],
        job["relay_id"],
        job["attempts"],
        job["due_at"],
        job["last_error"],
    ]


_JOB_HEADERS = ["id", "action", "state", "relay", "attempts", "due", "last error"]


def jobs_list(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Follow-up jobs, newest first."""
    params = {"state": args.state} if args.state else {}
    items = [
        j
        for j in api.pages("/api/jobs", params, limit=None if args.relay else args.limit)
        if args.relay is None or j["relay_id"] == args.relay
    ][: args.limit]
    out.listing(items, _JOB_HEADERS, _job_row)
    return 0


def jobs_retry(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """Put one dead job, or every dead job, back in the queue."""
    if args.all_dead == (args.id is not None):
        raise CommandError("give either a job id or --all-dead")
    if args.id is not None:
        job = api.call("POST", f"/api/jobs/{args.id}/retry")
        out.result(job, f"job #{job['id']} ({job['action']}) is {job['state']} again")
        return 0
    params = {"relay": args.relay} if args.relay else {}
    retried = api.retry_all("/api/jobs/retry-dead", params, batch=RETRY_BATCH)
    out.retried(retried, "job")
    return 0


def _segment(value: str) -> str:
    return quote(value, safe="")


COMMANDS: dict[str, Command] = {
    "status": status,
    "relays list": relays_list,
    "relays show": relays_show,
    "relays delete": relays_delete,
    "jobs list": jobs_list,
    "jobs retry": jobs_retry,
    "relays apply": relays_apply,
    "events search": events_search,
    "token show": token_show,
    "token rotate": token_rotate,
    **FORWARD_COMMANDS,
}


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_admin_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register the admin commands on the CLI's subparsers (``common`` adds --json, --api-url)."""
    commands.add_parser(
        "status", parents=[common], help="health, readiness, relays by state, open and dead jobs"
    ).set_defaults(command_name="status")

    relays = commands.add_parser("relays", help="list, show or delete relays")
    relay_commands = relays.add_subparsers(dest="relays_command", required=True)
    listing = relay_commands.add_parser("list", parents=[common], help="relays, newest first")
    listing.add_argument("--state", choices=RELAY_STATES)
    listing.add_argument("--limit", type=_positive, default=100, help="at most this many")
    listing.set_defaults(command_name="relays list")
    show = relay_commands.add_parser("show", parents=[common], help="one relay in detail")
    show.add_argument("id")
    show.set_defaults(command_name="relays show")
    delete = relay_commands.add_parser(
        "delete", parents=[common], help="stop managing a relay and delete its task"
    )
    delete.add_argument("id")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(command_name="relays delete")
    add_declare_commands(relay_commands, common)

    jobs = commands.add_parser("jobs", help="list follow-up jobs or retry dead ones")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    job_list = job_commands.add_parser("list", parents=[common], help="jobs, newest first")
    job_list.add_argument("--state", choices=JOB_STATES)
    job_list.add_argument("--relay", help="only the jobs of this relay id")
    job_list.add_argument("--limit", type=_positive, default=100, help="at most this many")
    job_list.set_defaults(command_name="jobs list")
    retry = job_commands.add_parser("retry", parents=[common], help="retry dead jobs")
    retry.add_argument("id", nargs="?", type=int, help="the dead job to retry")
    retry.add_argument("--all-dead", action="store_true", help="retry every dead job")
    retry.add_argument("--relay", help="with --all-dead: only the dead jobs of this relay id")
    retry.set_defaults(command_name="jobs retry")
    add_event_commands(commands, common)
    add_token_commands(commands, common)
    add_forward_commands(commands, common)
