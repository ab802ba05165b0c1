"""Masking of secrets in any text we log or show, in linear time.

Three things are masked, in every form a secret travels in:

- the values of secret-bearing URL parameters (``token=``, ``sign=``, ``UserSig=`` …), raw,
  percent-encoded once (``%26token%3D…`` inside an encoded ``CallbackUrl``) or twice
  (``%2526token%253D…``), and after a JSON-escaped ``\\u0026``;
- the values of sensitive ``key=value`` / ``key: value`` pairs and of a credential named in
  prose (``token 9f2c…``, ``UserSig "eJw1…"``);
- every registered secret verbatim, in the same three URL encodings.

Every pattern here is linear: no two unbounded quantifiers can match the same characters,
so a hostile input (``token`` followed by megabytes of blanks) costs one pass, not a square.
Callers that keep provider text still bound it first (:func:`bounded`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "SecretRegistry",
    "bounded",
    "encoded_forms",
    "mask_text",
    "register_secrets",
    "registered_secrets",
]

MASK = "***"
#: Shorter strings are not masked verbatim: they would mask ordinary words.
_MIN_SECRET = 4

_PARAM_KEYS = (
    r"token|sign|signature|usersig|user_?sig|privatemapkey|auth_key|ossaccesskeyid"
    r"|accesskeyid|access_?key_?secret|secret_?key|secret|expires|x-tc-token|password"
)
# The start of a parameter in a query string, raw, encoded once or twice, or JSON-escaped.
_PARAM_START = r"(?:^|[?&;]|\\u0026|\\u003[fF]|%3[fF]|%26|%253[fF]|%2526)"
_PARAM_EQ = r"(?:=|%3[dD]|%253[dD])"
# A value ends at the next raw or encoded separator; each character is consumed by exactly
# one branch (plain characters, or one %XX escape that is not an encoded '&' or '#').
_PARAM_VALUE = r"(?:[^\s&#\"'<>\\%,;]|%(?!26|23|2526|2523)[0-9A-Fa-f]{2}|%(?![0-9A-Fa-f]{2}))*"
_URL_PARAM = re.compile(rf"(?i)({_PARAM_START}(?:{_PARAM_KEYS}){_PARAM_EQ}){_PARAM_VALUE}")

_PAIR_KEYS = (
    r"signature|usersig|privatemapkey|token|secret\w{0,24}|access_?key_?secret|auth_key"
    r"|sign|authorization|x-tc-token|credential|password"
)
_PAIR = re.compile(
    rf"(?i)\b({_PAIR_KEYS})\b([\"']?[ \t]{{0,4}}[=:][ \t]{{0,4}}[\"']?)(?!\*\*\*)"
    r"([^\s&,;\"'}\]]+)"
)
# A credential named in prose (``token 9f2c…``, ``UserSig "eJw1…" is expired``): only a
# long token-like word after it is masked, so "token has expired" stays readable.
_PROSE = re.compile(
    r"(?i)\b(token|usersig|privatemapkey|signature|password)([ \t]{1,4}[\"']?)"
    r"(?!\*\*\*)([A-Za-z0-9+/=_.%-]{8,})"
)


def encoded_forms(secret: str) -> set[str]:
    """``secret`` as written raw, percent-encoded once or twice, and form-encoded."""
    once = quote(secret, safe="")
    return {secret, once, quote(once, safe=""), quote_plus(secret), quote_plus(quote_plus(secret))}


class SecretRegistry:
    """The secrets of this process (tokens, keys), masked in every log line and view."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()

    def add(self, secrets: Iterable[str | None]) -> None:
        """Register secrets (None and very short values are ignored)."""
        with self._lock:
            forms = set(self._forms)
            for secret in secrets:
                if secret and len(secret) >= _MIN_SECRET:
                    forms |= encoded_forms(secret)
            # Longest first, so that an encoded form is masked before a raw prefix of it.
            self._forms = tuple(sorted(forms, key=len, reverse=True))

    def clear(self) -> None:
        """Forget every secret (tests)."""
        with self._lock:
            self._forms = ()

    @property
    def forms(self) -> tuple[str, ...]:
        """Every registered form, longest first."""
        return self._forms


_REGISTRY = SecretRegistry()


def register_secrets(*secrets: str | None) -> None:
    """Add secrets to the process-wide registry that :func:`mask_text` always masks."""
    _REGISTRY.add(secrets)


def registered_secrets() -> SecretRegistry:
    """The process-wide registry."""
    return _REGISTRY


def mask_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret masked (registered ones, ``secrets``, and by pattern).

    Linear in ``len(text)`` for a fixed set of secrets.
    """
    extra: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            extra |= encoded_forms(secret)
    for form in sorted(extra, key=len, reverse=True) + list(_REGISTRY.forms):
        if form in text:
            text = text.replace(form, MASK)
    if "=" in text or "%" in text or "\\u" in text:
        text = _URL_PARAM.sub(lambda m: m.group(1) + MASK, text)
    text = _PAIR.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return _PROSE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)


def bounded(text: str, limit: int, secrets: Iterable[str | None] = ()) -> str:
    """At most ``limit`` characters of ``text``, never ending in the first part of a secret.

    A secret cut at the limit would no longer be recognised by :func:`mask_text`, so when
    the kept part ends in a prefix of a registered (or given) secret, that prefix goes too.
    """
    if len(text) <= limit:
        return text
    head = text[:limit]
    forms = list(_REGISTRY.forms)
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            forms.extend(encoded_forms(secret))
    cut = len(head)
    for form in forms:
        # Where a prefix of ``form`` could start so that it runs to the end of ``head``.
        start = max(0, len(head) - len(form) + 1)
        for position in range(start, len(head)):
            if form.startswith(head[position:]):
                cut = min(cut, position)
                break
    return head[:cut]
