"""Callback and admin authentication: URL tokens, TRTC ``Sign``, CSS ``t``/``sign``, bearer."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from receiver.auth import (
    bearer_token_matches,
    callback_token_valid,
    css_callback_signed,
    css_sign,
    relay_callback_token,
    token_matches,
    trtc_sign,
    trtc_sign_matches,
)
from tests.receiver.test_decoders_trtc import ROOM_EVENT

VECTOR_KEY = "123654"
VECTOR_SIGN = "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA="


def test_trtc_signature_vector_from_protocols() -> None:
    # The body has real tabs and newlines, as in the published example.
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


# ---------------------------------------------------------------- Tencent CSS t/sign

NOW = 1_800_000_000
CSS_KEY = "template-key"


def css_body(t: object, sign: object, **extra: object) -> bytes:
    return json.dumps({"event_type": 314, "t": t, "sign": sign, **extra}).encode()


def test_css_sign_is_md5_hex_of_key_then_t() -> None:
    assert css_sign("abc", "123") == hashlib.md5(b"abc123").hexdigest()


@pytest.mark.parametrize("t", [NOW + 600, str(NOW + 600), f" {NOW + 600} ", NOW])
def test_css_body_sign_accepted_with_t_as_number_or_string(t: object) -> None:
    text = str(t).strip()
    assert css_callback_signed(CSS_KEY, css_body(t, css_sign(CSS_KEY, text)), now=NOW)
    upper = css_sign(CSS_KEY, text).upper()
    assert css_callback_signed(CSS_KEY, css_body(t, upper), now=NOW)


@pytest.mark.parametrize(
    "raw",
    [
        css_body(NOW - 1, css_sign(CSS_KEY, str(NOW - 1))),  # t in the past
        css_body(NOW + 60, css_sign("other", str(NOW + 60))),  # wrong key
        css_body(NOW + 60, css_sign(CSS_KEY, str(NOW + 61))),  # sign of another t
        css_body(NOW + 60, None),
        css_body(None, css_sign(CSS_KEY, "")),
        css_body("", css_sign(CSS_KEY, "")),
        css_body("²", css_sign(CSS_KEY, "²")),  # isdigit() says yes, int() says no
        css_body("١٢٣", css_sign(CSS_KEY, "١٢٣")),  # Arabic-Indic digits: int() takes them
        css_body(-5, css_sign(CSS_KEY, "-5")),
        css_body(True, css_sign(CSS_KEY, "True")),
        css_body("9" * 5000, css_sign(CSS_KEY, "9" * 5000)),  # int() would refuse or crawl
        css_body(1.5e9, css_sign(CSS_KEY, "1500000000.0")),
        css_body(NOW + 60, ["not", "a", "string"]),
        css_body(NOW + 60, "ÿ" * 32),
        b"[1, 2]",
        b"not json",
        b'{"t": 99999999999999999999999999999, "sign": "x"}',
        b"",
    ],
)
def test_css_body_sign_refuses_anything_else(raw: bytes) -> None:
    assert css_callback_signed(CSS_KEY, raw, now=NOW) is False


def test_css_sign_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    constant_time = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return constant_time(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    good = css_sign(CSS_KEY, str(NOW + 5))
    assert css_callback_signed(CSS_KEY, css_body(NOW + 5, good), now=NOW)
    assert not css_callback_signed(CSS_KEY, css_body(NOW + 5, "0" * 32), now=NOW)
    assert compared == [(good.encode(), good.encode()), (good.encode(), b"0" * 32)]


def test_css_sign_ignores_the_rest_of_the_body() -> None:
    raw = css_body(NOW + 5, css_sign(CSS_KEY, str(NOW + 5)), msg='{"a": 1}', task_id="9")
    assert css_callback_signed(CSS_KEY, raw, now=NOW)
