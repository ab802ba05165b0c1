"""The masking shared by logs and API views: every form of a secret, in linear time."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest

from receiver.logs import RedactingFilter, _redact_event
from receiver.redaction import (
    MASK,
    bounded,
    encoded_forms,
    mask_text,
    register_secrets,
    registered_secrets,
)

TOKEN = "Tk/9+a&b=c%d"


@pytest.fixture
def registry() -> Iterator[None]:
    """The process-wide registry, emptied after the test (servers register theirs anew)."""
    yield
    registered_secrets().clear()


def test_registered_secret_is_masked_raw_and_encoded_once_and_twice(registry: None) -> None:
    register_secrets(TOKEN, None, "abc")  # None and too-short values are ignored
    once = quote(TOKEN, safe="")
    twice = quote(once, safe="")
    text = f"a {TOKEN} b {once} c {twice} d {urlencode({'k': TOKEN})}"
    masked = mask_text(text)
    assert all(form not in masked for form in encoded_forms(TOKEN))
    assert masked.count(MASK) == 4
    assert mask_text("abc is not masked") == "abc is not masked"


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("GET /cb?relay=r1&token=S3cret-1", "S3cret-1"),
        ("CallbackUrl=http%3A%2F%2Fh%2Fcb%3Frelay%3Dr1%26token%3DS3cret-2%26x%3D1", "S3cret-2"),
        ("u=http%253A%252F%252Fh%252Fcb%253Ftoken%253DS3cret-3%2526x", "S3cret-3"),
        ('{"CallbackURL":"http://h/cb?relay=r\\u0026token=S3cret-4"}', "S3cret-4"),
        ("token=S3cret-5", "S3cret-5"),
        ("?UserSig=eJw1S3cret6&x=1", "eJw1S3cret6"),
        ("provider said: token S3cret-7-long is invalid", "S3cret-7-long"),
        ('{"token": "S3cret-8"}', "S3cret-8"),
        ("Authorization: Bearer-less-S3cret9", "Bearer-less-S3cret9"),
        ("PrivateMapKey 'S3cretPMK10'", "S3cretPMK10"),
    ],
)
def test_secrets_are_masked_by_pattern_in_every_form(text: str, leaked: str) -> None:
    masked = mask_text(text)
    assert leaked not in masked
    assert MASK in masked


def test_ordinary_text_is_left_alone() -> None:
    for text in (
        "token has expired",
        "set RELAYWARDEN_ALIYUN_ACCESS_KEY_SECRET",
        "GET /api/tasks?limit=5&cursor=9",
        "relay=r1&region=cn-shanghai",
    ):
        assert mask_text(text) == text


def test_mask_keeps_json_valid() -> None:
    raw = json.dumps({"TaskInfo": {"CallbackURL": "http://h/cb?relay=r&token=zz-99-zz"}})
    assert json.loads(mask_text(raw)) == {
        "TaskInfo": {"CallbackURL": "http://h/cb?relay=r&token=***"}
    }


def test_bounded_never_ends_in_part_of_a_secret(registry: None) -> None:
    register_secrets("0123456789abcdef")
    assert bounded("x" * 10, 20) == "x" * 10
    assert bounded("hello 0123456789abcdef", 12) == "hello "
    assert bounded("hello world and more", 11) == "hello world"
    assert bounded("a secret ZZZZ-given", 14, ["ZZZZ-given"]) == "a secret "


def test_stdlib_records_are_masked_by_the_filter() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("relaywarden.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            'HTTP Request: %s "%s"',
            "POST http://h/?CallbackUrl=http%3A%2F%2Fx%2Fcb%3Ftoken%3DS3cret-11",
            "HTTP/1.1 200 OK",
        )
        logger.warning('%s - "WebSocket %s" 403', "127.0.0.1:5", "/cb?token=S3cret-12")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "S3cret-11" not in output and "S3cret-12" not in output
    assert output.count(MASK) == 2


def test_log_lines_mask_strings_at_any_depth_and_leave_plain_values(registry: None) -> None:
    register_secrets(TOKEN)
    error = ValueError(f"bad {TOKEN}")
    line: dict[str, object] = {
        "event": "callback",
        "task_id": f"task-{TOKEN}",
        "count": 3,
        "ratio": 0.5,
        "applied": True,
        "missing": None,
        "nested": {"url": f"https://x/?token={TOKEN}", "ids": [1, TOKEN]},
        "error": error,
    }
    masked = _redact_event(None, "info", dict(line))
    assert TOKEN not in json.dumps({k: v for k, v in masked.items() if k != "error"})
    assert TOKEN not in str(masked["error"]) and str(masked["error"]).startswith("ValueError")
    assert masked["event"] == "callback" and str(masked["task_id"]).startswith("task-")
    for key in ("count", "ratio", "applied", "missing"):
        assert masked[key] is line[key]
    # A secret registered later is masked too: the memo of masked forms starts over.
    before = _redact_event(None, "info", {"task_id": "later-secret-value-0123"})
    assert before["task_id"] == "later-secret-value-0123"  # not a secret yet: memoised as is
    register_secrets("later-secret-value-0123")
    again = _redact_event(None, "info", {"task_id": "later-secret-value-0123"})
    assert again["task_id"] != "later-secret-value-0123"
