"""structlog configuration: JSON lines by default, console rendering on request."""

from __future__ import annotations

import asyncio
import atexit
import datetime
import logging
import sys
import threading
import time
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

from receiver.redaction import mask_text, registered_secrets

__all__ = ["QUIET_LOGGERS", "LineWriter", "RedactingFilter", "configure_logging", "redact_url"]

#: Third-party loggers that print request URLs (httpx logs every request line at INFO,
#: query string included): only their warnings get through.
QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "websockets", "uvicorn.protocols")


def redact_url(url: str) -> str:
    """Replace the values of secret-bearing query parameters (any encoding) with ``***``."""
    return mask_text(url)


#: Masked forms of short strings already seen (task ids, sources, outcomes recur in every
#: callback line), valid while the registered secrets stay the same.
_MEMO: dict[str, str] = {}
_MEMO_FOR: list[tuple[str, ...] | None] = [None]
_MEMO_ENTRIES = 4096
_MEMO_LENGTH = 256


def _mask(text: str) -> str:
    if len(text) > _MEMO_LENGTH:
        return mask_text(text)
    forms = registered_secrets().forms
    if forms is not _MEMO_FOR[0]:
        _MEMO.clear()
        _MEMO_FOR[0] = forms
    found = _MEMO.get(text)
    if found is None:
        if len(_MEMO) >= _MEMO_ENTRIES:
            _MEMO.clear()
        found = _MEMO[text] = mask_text(text)
    return found


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    if isinstance(value, BaseException):
        return mask_text(f"{type(value).__name__}: {value}")
    return value


def _redact_event(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if key != "exc_info":
            event_dict[key] = _masked(value)
    return event_dict


def _redact_rendered(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
    # Tracebacks are rendered late (format_exc_info): they may quote a URL or a message.
    exception = event_dict.get("exception")
    if isinstance(exception, str):
        event_dict["exception"] = mask_text(exception)
    return event_dict


class RedactingFilter(logging.Filter):
    """Masks secrets in stdlib records (uvicorn's, a library's) before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        return True


_JSON = msgspec.json.Encoder(enc_hook=repr)
_second: list[Any] = [None, ""]  # the last whole second stamped, and its ISO text


def _timestamp(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``timestamp``: ISO 8601 UTC with microseconds; the date part is formatted once a second."""
    now = time.time()
    second = int(now)
    if second != _second[0]:
        moment = datetime.datetime.fromtimestamp(second, datetime.UTC)
        _second[:] = [second, moment.strftime("%Y-%m-%dT%H:%M:%S")]
    event_dict["timestamp"] = f"{_second[1]}.{int((now - second) * 1e6):06d}Z"
    return event_dict


class LineWriter:
    """structlog's logger for JSON lines: one write per event-loop pass, not one per line.

    Under load a loop pass answers many callbacks; writing (a system call that releases the
    GIL to the store's writer thread) once per pass instead of once per line saves both.
    Lines logged off the loop, or with no loop running, are written at once, in order.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._lines: list[bytes] = []
        self._lock = threading.Lock()

    def msg(self, message: bytes) -> None:
        """Queue one line (written at the end of this loop pass)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._lines.append(message)
            if loop is None:
                self._write()
            elif len(self._lines) == 1:
                loop.call_soon(self.flush)

    info = warning = error = critical = exception = debug = msg

    def flush(self) -> None:
        """Write every queued line."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        if self._lines:
            self._lines.append(b"")
            self._stream.write(b"\n".join(self._lines))
            self._lines.clear()
            self._stream.flush()


def _encode_json(event_dict: Any, **_: Any) -> bytes:
    return _JSON.encode(event_dict)


def _encode_json_text(event_dict: Any, **_: Any) -> str:
    # The stdlib handler (uvicorn's lines) writes text: the same encoding, decoded.
    return _JSON.encode(event_dict).decode()


def configure_logging(log_format: str = "json", level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging (uvicorn's included) to stdout in one format."""
    text_renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_encode_json_text)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # Our own lines (one per callback, on the hot path) are encoded by msgspec straight to
    # bytes; stdlib lines (uvicorn's) go through the text renderer above, with the same
    # encoder, so every line on stdout has one JSON format.
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_encode_json)
        if log_format == "json"
        else text_renderer
    )
    lines = LineWriter(sys.stdout.buffer)
    atexit.register(lines.flush)
    factory: Any = (
        (lambda *_: lines) if log_format == "json" else structlog.PrintLoggerFactory(sys.stdout)
    )
    # Level and timestamp are ours, added after masking (which they never need).
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _redact_event,
        structlog.processors.add_log_level,
        _timestamp,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _redact_rendered, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redact_rendered,
                text_renderer,
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Access lines come from our middleware, which redacts tokens; uvicorn's would not.
    logging.getLogger("uvicorn.access").disabled = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
