"""structlog configuration: JSON lines by default, console rendering on request."""

from __future__ import annotations

import asyncio
import atexit
import datetime
import logging
import re
import sys
import threading
import time
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

__all__ = ["LineWriter", "configure_logging", "redact_url"]

_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:token|sign|signature|usersig|auth_key|ossaccesskeyid|accesskeyid|expires)=)[^&#\s]*"
)


def redact_url(url: str) -> str:
    """Replace the values of secret-bearing query parameters with ``***``."""
    return _SECRET_PARAMS.sub(r"\1***", url)


def _redact_event(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in ("path", "url", "callback_url"):
        value = event_dict.get(key)
        if isinstance(value, str):
            event_dict[key] = redact_url(value)
    return event_dict


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


def configure_logging(log_format: str = "json", level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging (uvicorn's included) to stdout in one format."""
    text_renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # Our own lines (one per callback, on the hot path) are encoded by msgspec straight to
    # bytes; stdlib lines (uvicorn's) go through the text renderer above.
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
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _timestamp,
        _redact_event,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                text_renderer,
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Access lines come from our middleware, which redacts tokens; uvicorn's would not.
    logging.getLogger("uvicorn.access").disabled = True
