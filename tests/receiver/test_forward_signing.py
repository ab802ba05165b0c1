"""The forwards' signature: the README's recipe, and what ``verify`` refuses."""

from __future__ import annotations

import hashlib
import hmac

from receiver.forward_signing import signature, verify

SECRET = "forward-secret-0123456789"
BODY = b'{"TaskId":"t1","TaskStatus":"3"}'


def test_signature_is_the_documented_recipe() -> None:
    # README: "v1=" + hex HMAC-SHA256(secret, timestamp + "." + raw body).
    expected = hmac.new(SECRET.encode(), b"1764672000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, "1764672000", BODY) == f"v1={expected}"


def test_verify_accepts_only_the_exact_body_secret_and_a_recent_time() -> None:
    signed = signature(SECRET, "1000", BODY)
    assert verify(SECRET, "1000", BODY, signed, now=1000)
    assert verify(SECRET, "1000", BODY, signed, now=1299)
    assert not verify(SECRET, "1000", BODY, signed, now=1301)  # replayed later
    assert not verify(SECRET, "1000", BODY + b" ", signed, now=1000)  # body changed
    assert not verify("another-secret-0000", "1000", BODY, signed, now=1000)
    assert not verify(SECRET, "1001", BODY, signed, now=1000)  # timestamp changed
    assert not verify(SECRET, None, BODY, signed, now=1000)
    assert not verify(SECRET, "1000", BODY, None, now=1000)
    assert not verify(SECRET, "-1000", BODY, signed, now=1000)
