"""``relaywarden relays apply -f relays.toml``: declare many relays, each by ``PUT``.

The file holds ``[[relay]]`` tables with the fields of the JSON declaration (``name``,
``pull_to_push``, ``adopt``, ``trtc_ingest``, ``recreate``). Each relay is applied on its
own; the command prints one line per relay and fails when any relay was refused.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from receiver.cli_client import ApiClient, CommandError
from receiver.cli_output import Printer

__all__ = ["add_declare_commands", "read_relays", "relays_apply"]


def read_relays(path: Path) -> list[dict[str, Any]]:
    """The ``[[relay]]`` tables of a TOML file; CommandError naming what is wrong."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CommandError(f"{path} is not valid TOML: {exc}") from None
    relays = document.get("relay")
    if not isinstance(relays, list) or not relays:
        raise CommandError(f"{path} declares no relays: add [[relay]] tables")
    names: set[str] = set()
    for number, relay in enumerate(relays, start=1):
        name = relay.get("name") if isinstance(relay, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise CommandError(f"{path}: relay #{number} has no name")
        if name in names:
            raise CommandError(f"{path}: the name {name!r} is declared twice")
        names.add(name)
    return relays


def relays_apply(args: argparse.Namespace, api: ApiClient, out: Printer) -> int:
    """PUT each relay of the file; a table of outcomes; exit 1 when any was refused."""
    results: list[dict[str, Any]] = []
    for relay in read_relays(Path(args.file)):
        name = relay["name"]
        path = f"/api/relays/{quote(name, safe='')}"
        answer = api.call("PUT", path, json=relay, accept=(400, 409, 413))
        error = answer.get("error") if isinstance(answer, dict) else None
        if error is not None:
            results.append({"name": name, "outcome": "refused", "error": error["message"]})
        else:
            results.append({"name": name, **answer})
    if out.as_json:
        out.json(results)
    else:
        out.table(
            ["name", "outcome", "id", "state", "error"],
            [
                [r["name"], r["outcome"], r.get("id"), r.get("state"), r.get("error")]
                for r in results
            ],
        )
    return 1 if any(r["outcome"] == "refused" for r in results) else 0


def add_declare_commands(relay_commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``apply`` to the ``relays`` subcommands."""
    apply = relay_commands.add_parser(
        "apply",
        parents=[common],
        help="declare the relays of a TOML file ([[relay]] tables), idempotently",
    )
    apply.add_argument("-f", "--file", required=True, help="the TOML file of relays")
    apply.set_defaults(command_name="relays apply")
