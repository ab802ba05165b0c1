"""structlog configuration: JSON lines by default, console rendering on request."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

from receiver.redaction import mask_text

__all__ = ["QUIET_LOGGERS", "RedactingFilter", "configure_logging", "redact_url"]

#: Third-party loggers that print request URLs (httpx logs every request line at INFO,
#: query string included): only their warnings get through.
QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "websockets", "uvicorn.protocols")


def redact_url(url: str) -> str:
    """Replace the values of secret-bearing query parameters (any encoding) with ``***``."""
    return mask_text(url)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
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
