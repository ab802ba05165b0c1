"""Follow-up rules: which task transitions lead to which action.

The built-in rules are the documented table. ``RELAYWARDEN_RULES_FILE`` replaces them with a
TOML file of the same shape::

    [[rules]]
    name = "recreate-when-provider-gave-up"
    provider = "aliyun"
    status = "offline"
    reasons = ["PullStreamFailed", "PushStreamFailed", "UnknownError", "RetryTimesOffline"]
    action = "recreate"

A rule matches a transition of a relay's current task into ``status`` (and, when
``reasons`` is not empty, with one of those reasons).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

import msgspec

__all__ = [
    "BUILTIN_RULES",
    "RECREATE_REASONS",
    "Rule",
    "RulesFileError",
    "load_rules",
    "matching_actions",
    "parse_rules",
]

Action = Literal[
    "recreate",
    "stop_ingest",
    "start_ingest",
    "start_transcode",
    "stop_transcode",
    "disable_channel",
]
StatusName = Literal["idle", "running", "recovering", "offline", "exited"]

RECREATE_REASONS = ("PullStreamFailed", "PushStreamFailed", "UnknownError", "RetryTimesOffline")


class Rule(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """When a relay's task enters ``status`` (with one of ``reasons``), run ``action``."""

    name: str
    status: StatusName
    action: Action
    provider: Literal["aliyun"] = "aliyun"
    reasons: tuple[str, ...] = ()

    def matches(self, provider: str, status: str, reason: str) -> bool:
        """True when a transition to ``status``/``reason`` of a ``provider`` task fires this."""
        return (
            provider == self.provider
            and status == self.status
            and (not self.reasons or reason in self.reasons)
        )


class _RulesFile(msgspec.Struct, forbid_unknown_fields=True):
    rules: list[Rule]


BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(
        name="recreate-when-provider-gave-up",
        status="offline",
        reasons=RECREATE_REASONS,
        action="recreate",
    ),
    Rule(name="stop-ingest-when-relay-ended", status="exited", action="stop_ingest"),
    Rule(name="start-ingest-when-relay-runs", status="running", action="start_ingest"),
    Rule(name="start-transcode-when-relay-runs", status="running", action="start_transcode"),
    Rule(name="stop-transcode-when-relay-ended", status="exited", action="stop_transcode"),
    Rule(name="disable-channel-when-relay-ended", status="exited", action="disable_channel"),
)
# An offline task with reason TriggerByUser matches nothing: an operator stopped it.


class RulesFileError(ValueError):
    """The rules file is malformed; the message names the file, line and field."""


_PATH = re.compile(r"\$\.rules\[(\d+)\](?:\.(\w+))?")


def _line_of(text: str, index: int, field: str | None) -> int | None:
    """The line of rule ``index``'s ``field`` (or of its header) in the TOML text."""
    seen = -1
    header_line: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[[rules]]"):
            seen += 1
            if seen == index:
                header_line = number
            elif seen > index:
                break
            continue
        if seen == index and field and re.match(rf"{re.escape(field)}\s*=", stripped):
            return number
    return header_line


def _top_level_line(text: str, key: str) -> int | None:
    """The line of a top-level ``key`` (a ``key = …`` or ``[key]`` before any table)."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            if re.match(rf"\[\[?\s*{re.escape(key)}\s*\]", stripped):
                return number
            continue
        if re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return None


def parse_rules(text: str, source: str = "<rules>") -> tuple[Rule, ...]:
    """Parse and validate a rules file's text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesFileError(f"{source}: {exc}") from None
    try:
        parsed = msgspec.convert(data, _RulesFile)
    except msgspec.ValidationError as exc:
        message = str(exc)
        named = re.search(r"(?:missing required|unknown) field `(\w+)`", message) or re.search(
            r"at `\$\.(\w+)`$", message
        )
        name = named.group(1) if named else None
        found = _PATH.search(message)
        if found:
            index = int(found.group(1))
            name = found.group(2) or name
            # An unknown field's own line; a missing field's rule header.
            line = _line_of(text, index, name)
            where = f"line {line}, " if line else ""
            where += f"rule #{index + 1}" + (f", field {name!r}" if name else "")
        else:
            line = _top_level_line(text, name) if name else None
            where = (f"line {line}, " if line else "") + (f"field {name!r}" if name else "")
        raise RulesFileError(f"{source}: {where + ': ' if where else ''}{message}") from None
    return tuple(parsed.rules)


def load_rules(path: str | None) -> tuple[Rule, ...]:
    """The rules of ``path``, or the built-in rules when no file is configured."""
    if path is None:
        return BUILTIN_RULES
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesFileError(f"cannot read rules file {path}: {exc.strerror}") from None
    return parse_rules(text, path)


def matching_actions(rules: tuple[Rule, ...], provider: str, status: str, reason: str) -> list[str]:
    """Actions of every rule matching a transition, in rule order, without repeats."""
    actions: list[str] = []
    for rule in rules:
        if rule.matches(provider, status, reason) and rule.action not in actions:
            actions.append(rule.action)
    return actions
