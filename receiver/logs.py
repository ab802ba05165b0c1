"""structlog configuration: JSON lines by default, console rendering on request."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

__all__ = ["configure_logging", "redact_url"]

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
    factory: Any = (
        structlog.BytesLoggerFactory(sys.stdout.buffer)
        if log_format == "json"
        else structlog.PrintLoggerFactory(sys.stdout)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
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
