"""Callback and admin authentication."""

from __future__ import annotations

import pytest

from receiver.auth import (
    bearer_token_matches,
    callback_token_valid,
    relay_callback_token,
    token_matches,
    trtc_sign,
    trtc_sign_matches,
)
from tests.receiver.test_decoders_trtc import ROOM_EVENT

VECTOR_KEY = "123654"
VECTOR_SIGN = "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA="


def test_trtc_signature_vector_from_protocols() -> None:
    # The body has real tabs and newlines (documentation shows them escaped).
    assert b"\t" in ROOM_EVENT and b"\n" in ROOM_EVENT and b"\\t" not in ROOM_EVENT
    assert trtc_sign(VECTOR_KEY, ROOM_EVENT) == VECTOR_SIGN
    assert trtc_sign_matches(VECTOR_KEY, ROOM_EVENT, VECTOR_SIGN)


@pytest.mark.parametrize(
    "sign",
    [
        None,
        "",
        VECTOR_SIGN.lower(),
        VECTOR_SIGN[:-1],
        VECTOR_SIGN + "A",
        "kkoFeO3Oh2ZHnjtg8tEAQhtXK16_KI05W3BQff8IvGA=",  # url-safe alphabet is another string
        "ÿ" * 44,
    ],
)
def test_trtc_sign_rejects_anything_else(sign: str | None) -> None:
    assert not trtc_sign_matches(VECTOR_KEY, ROOM_EVENT, sign)


def test_trtc_sign_covers_every_byte_and_the_key() -> None:
    assert not trtc_sign_matches(VECTOR_KEY, ROOM_EVENT + b" ", VECTOR_SIGN)
    assert not trtc_sign_matches(VECTOR_KEY, ROOM_EVENT.replace(b"\t", b" "), VECTOR_SIGN)
    assert not trtc_sign_matches("123655", ROOM_EVENT, VECTOR_SIGN)


def test_trtc_sign_tolerates_surrounding_whitespace_of_the_header() -> None:
    assert trtc_sign_matches(VECTOR_KEY, ROOM_EVENT, f" {VECTOR_SIGN} ")


@pytest.mark.parametrize(
    ("given", "ok"),
    [("s3cret", True), ("s3cret ", False), ("S3cret", False), ("", False), (None, False)],
)
def test_token_matches(given: str | None, ok: bool) -> None:
    assert token_matches(given, "s3cret") is ok


def test_non_ascii_token_is_compared_not_crashed() -> None:
    assert not token_matches("\u017f3cret", "s3cret")  # long s, not s
    assert token_matches("pässwörd", "pässwörd")


def test_relay_tokens() -> None:
    main = "main-token"
    relay = relay_callback_token(main, "relay-1")
    assert relay != main and "=" not in relay
    assert relay == relay_callback_token(main, "relay-1")
    assert relay != relay_callback_token(main, "relay-2")
    assert relay != relay_callback_token("other-main", "relay-1")
    assert callback_token_valid(main, main, None)
    assert callback_token_valid(main, main, "relay-1")
    assert callback_token_valid(relay, main, "relay-1")
    assert not callback_token_valid(relay, main, "relay-2")
    assert not callback_token_valid(relay, main, None)
    assert not callback_token_valid(None, main, "relay-1")


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer adm1n", True),
        ("bearer adm1n", True),
        ("BEARER  adm1n ", True),
        ("Bearer adm1nx", False),
        ("Basic adm1n", False),
        ("adm1n", False),
        ("Bearer", False),
        ("", False),
        (None, False),
    ],
)
def test_bearer_token(header: str | None, ok: bool) -> None:
    assert bearer_token_matches(header, "adm1n") is ok
