"""What decoders raise when a body is not an event they know."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

__all__ = [
    "MAX_EVENT_TIME_MS",
    "Malformed",
    "Unrecognized",
    "checked_time_ms",
    "decode_or_classify",
    "parse_int",
]

T = TypeVar("T")

#: The last millisecond of year 9999: provider times beyond it (or before 1970) are not
#: times at all, and would not fit the store's 64-bit integers or an ISO 8601 date.
MAX_EVENT_TIME_MS = 253_402_300_799_999


class Unrecognized(Exception):
    """Valid JSON that is not a known event: kept in quarantine, answered 202."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Malformed(Exception):
    """Not JSON at all: answered 400 (the authenticated body is still kept)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_or_classify(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode ``body`` into the source's struct, or raise Malformed / Unrecognized.

    The typed decode is the hot path; only when it fails do we look at the body again to
    tell "not JSON" from "JSON of another shape".
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        shape_error = exc
    except msgspec.DecodeError as exc:
        raise Malformed(f"body is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:  # msgspec raises it for bad UTF-8 inside strings
        raise Malformed(f"body is not valid UTF-8 JSON: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise Unrecognized("JSON is nested too deeply to decode") from None
    # The typed decoder stops at the first wrong type; the body may still be broken
    # further on (``[1, 2`` fails as "not an object" before the missing bracket). Raw
    # checks only the syntax: an integer too big for a typed field is still valid JSON.
    try:
        msgspec.json.decode(body, type=msgspec.Raw)
    except msgspec.DecodeError as syntax:
        raise Malformed(f"body is not valid JSON: {syntax}") from None
    except RecursionError:
        raise Unrecognized("JSON is nested too deeply to decode") from None
    raise Unrecognized(f"JSON does not match the expected shape: {shape_error}")


def checked_time_ms(value: int | None, field: str) -> int | None:
    """A provider time in milliseconds, or Unrecognized when it cannot be a real time."""
    if value is not None and not 0 <= value <= MAX_EVENT_TIME_MS:
        raise Unrecognized(f"{field} is not a time between 1970 and 9999")
    return value


def parse_int(value: Any) -> int | None:
    """An integer sent as a JSON number or a numeric string; ``None`` when absent or empty."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None
