"""Follow-up rules: the documented built-ins, the TOML rules file, and its error messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.rules import (
    BUILTIN_RULES,
    RECREATE_REASONS,
    Rule,
    RulesFileError,
    load_rules,
    matching_actions,
    parse_rules,
)
from tests.support.servers import free_port

RELAYWARDEN = Path(sys.executable).with_name("relaywarden")

#: the documented built-in table, written as a rules file.
BUILTIN_TOML = """
# The built-in rules, spelled out.
[[rules]]
name = "recreate-when-provider-gave-up"
provider = "aliyun"
status = "offline"
reasons = ["PullStreamFailed", "PushStreamFailed", "UnknownError", "RetryTimesOffline"]
action = "recreate"

[[rules]]
name = "stop-ingest-when-relay-ended"
status = "exited"
action = "stop_ingest"

[[rules]]
name = "start-ingest-when-relay-runs"
status = "running"
action = "start_ingest"

[[rules]]
name = "start-transcode-when-relay-runs"
status = "running"
action = "start_transcode"

[[rules]]
name = "stop-transcode-when-relay-ended"
status = "exited"
action = "stop_transcode"

[[rules]]
name = "disable-channel-when-relay-ended"
status = "exited"
action = "disable_channel"
"""


@pytest.mark.parametrize("reason", RECREATE_REASONS)
def test_builtin_provider_failures_recreate(reason: str) -> None:
    assert matching_actions(BUILTIN_RULES, "aliyun", "offline", reason) == ["recreate"]


ENDED = ["stop_ingest", "stop_transcode", "disable_channel"]


@pytest.mark.parametrize(
    ("provider", "status", "reason", "actions"),
    [
        ("aliyun", "offline", "TriggerByUser", []),  # an operator stopped it
        ("aliyun", "offline", "", []),
        ("aliyun", "offline", "SomeFutureReason", []),
        ("aliyun", "exited", "OverEndTime", ENDED),
        ("aliyun", "exited", "TriggerByUser", ENDED),
        ("aliyun", "exited", "", ENDED),
        ("aliyun", "running", "", ["start_ingest", "start_transcode"]),
        ("aliyun", "recovering", "", []),
        ("aliyun", "idle", "", []),
        ("trtc", "stopped", "", []),
        ("tencent", "offline", "PullStreamFailed", []),
        ("trtc", "running", "", []),
    ],
)
def test_builtin_table(provider: str, status: str, reason: str, actions: list[str]) -> None:
    assert matching_actions(BUILTIN_RULES, provider, status, reason) == actions


def test_rules_file_spelling_out_the_builtins_equals_them(tmp_path: Path) -> None:
    assert parse_rules(BUILTIN_TOML) == BUILTIN_RULES
    path = tmp_path / "rules.toml"
    path.write_text(BUILTIN_TOML, encoding="utf-8")
    assert load_rules(str(path)) == BUILTIN_RULES
    assert load_rules(None) is BUILTIN_RULES


def test_a_rules_file_replaces_the_builtins() -> None:
    rules = parse_rules(
        """
        [[rules]]
        name = "only-on-retry-exhaustion"
        status = "offline"
        reasons = ["RetryTimesOffline"]
        action = "recreate"

        [[rules]]
        name = "also-on-operator-stop"
        status = "offline"
        reasons = ["TriggerByUser", "RetryTimesOffline"]
        action = "recreate"

        [[rules]]
        name = "stop-when-offline"
        status = "offline"
        action = "stop_ingest"
        """
    )
    assert rules[0] == Rule(
        name="only-on-retry-exhaustion",
        status="offline",
        reasons=("RetryTimesOffline",),
        action="recreate",
    )
    # Rule order, no repeats; a rule without reasons matches any reason.
    assert matching_actions(rules, "aliyun", "offline", "RetryTimesOffline") == [
        "recreate",
        "stop_ingest",
    ]
    assert matching_actions(rules, "aliyun", "offline", "TriggerByUser") == [
        "recreate",
        "stop_ingest",
    ]
    assert matching_actions(rules, "aliyun", "offline", "PullStreamFailed") == ["stop_ingest"]
    assert matching_actions(rules, "aliyun", "exited", "") == []
    assert parse_rules("rules = []") == ()


HEAD = '[[rules]]\nname = "a"\nstatus = "offline"\naction = "recreate"\n'


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        # missing field: the line of its rule's header
        (HEAD + '\n[[rules]]\nname = "b"\nstatus = "exited"\n', 6, "action"),
        ('[[rules]]\nname = "a"\nstatus = "offline"\naction = "explode"\n', 4, "action"),
        ('[[rules]]\nname = "a"\nstatus = "sleeping"\naction = "recreate"\n', 3, "status"),
        (HEAD + 'colour = "red"\n', 5, "colour"),
        (HEAD + 'reasons = "PullStreamFailed"\n', 5, "reasons"),
        (HEAD + 'reasons = ["PullStreamFailed", 3]\n', 5, "reasons"),
        (HEAD + 'provider = "trtc"\n', 5, "provider"),
        ('[[rules]]\nname = 7\nstatus = "offline"\naction = "recreate"\n', 2, "name"),
        ('\n\nrule = "typo for rules"\n', 3, "rule"),
        ('rules = "x"\n', 1, "rules"),
        ('[[rules]]\nname = "unterminated\n', 2, None),  # TOML syntax: the parser's line
    ],
)
def test_malformed_files_name_the_line_and_field(
    tmp_path: Path, text: str, line: int, field: str | None
) -> None:
    path = tmp_path / "bad-rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesFileError) as raised:
        load_rules(str(path))
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert f"line {line}" in message
    if field is not None:
        assert f"field {field!r}" in message


def test_missing_fields_and_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="field 'rules'"):
        parse_rules("", "empty.toml")
    missing = tmp_path / "nope.toml"
    with pytest.raises(RulesFileError, match=r"cannot read rules file .*nope\.toml"):
        load_rules(str(missing))


def test_serve_with_a_bad_rules_file_exits_naming_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(HEAD + '\n[[rules]]\nname = "b"\nstatus = "exited"\naction = "explode"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYWARDEN_")}
    env.update(
        RELAYWARDEN_PORT=str(free_port()),
        RELAYWARDEN_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
        RELAYWARDEN_RULES_FILE=str(path),
    )
    done = subprocess.run(
        [str(RELAYWARDEN), "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "bad rules file" in done.stderr
    assert str(path) in done.stderr
    assert "line 9" in done.stderr and "field 'action'" in done.stderr
    assert "Uvicorn running" not in done.stderr + done.stdout
