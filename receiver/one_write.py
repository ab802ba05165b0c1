"""One socket write per response: the head goes out with the first part of the body.

uvicorn's request cycle writes a response's status line and headers as soon as the app
sends ``http.response.start``, and the body with the next message: two ``send`` system
calls and two TCP segments per callback answer, each waking the client. Every answer of
relaywarden (and of most ASGI apps) sends both messages back to back, so
:class:`OneWriteCycle` holds the head until the next message and writes the two together.
Nothing else changes: uvicorn's own ``send`` still checks and frames every message.

A head is held only while the app runs between its two ``send`` calls; if the app ends
without a body, uvicorn closes the connection as it would have after writing the head.

An app whose answer is fixed and complete (the callback answers) can skip both messages:
the scope extension ``WHOLE_ANSWER`` is :meth:`OneWriteCycle.send_whole`, which writes a
head built once by the app, uvicorn's default headers and the body in one write, without
uvicorn formatting and checking the same constant headers on every request. It declines
(the app then sends the two messages) whenever uvicorn's ``send`` would do more than that.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

__all__ = ["WHOLE_ANSWER", "OneWriteCycle", "use_one_write"]

#: The scope extension (``scope["extensions"][WHOLE_ANSWER]``) holding the cycle's
#: :meth:`OneWriteCycle.send_whole`.
WHOLE_ANSWER = "relaywarden.whole_answer"


class _Capture:
    """Stands in for the transport while uvicorn formats a head: keeps what it writes.

    uvicorn may wait for a slow client's buffer to drain before it formats the head; other
    tasks of the request that look at the transport meanwhile see the real one's state.
    """

    __slots__ = ("data", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def __getattr__(self, name: str) -> Any:  # is_closing() and the like
        return getattr(self.transport, name)


class _Prefixed:
    """Stands in for the transport while uvicorn writes a body part: the head goes first."""

    __slots__ = ("head", "transport")

    def __init__(self, transport: asyncio.Transport, head: bytes) -> None:
        self.transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        self.transport.write(head + data if head else data)

    def flush(self) -> None:
        """Write the head if no body part did (a ``HEAD`` request's answer)."""
        if self.head:
            self.write(b"")

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing() and the like
        return getattr(self.transport, name)


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's httptools request cycle, writing each response head with its body."""

    _held: bytes | None = None

    async def send(self, message: Any) -> None:
        """uvicorn's ``send``, with the head's write deferred to the next message."""
        transport = self.transport
        held = self._held
        if held is None and not self.response_started:
            capture = _Capture(transport)
            self.transport = cast(asyncio.Transport, capture)
            try:
                await super().send(message)
            finally:
                self.transport = transport
            if capture.data:
                self._held = capture.data
            return
        if held is None:
            await super().send(message)
            return
        self._held = None
        prefixed = _Prefixed(transport, held)
        self.transport = cast(asyncio.Transport, prefixed)
        try:
            await super().send(message)
        finally:
            self.transport = transport
        if not self.disconnected:
            prefixed.flush()

    def send_whole(self, status: int, head: bytes, body: bytes) -> bool:
        """Write a whole answer at once; False (nothing done) when it must go as messages.

        ``head`` holds the app's header lines, each ending in CRLF, with lowercase names
        and a ``content-length`` equal to ``len(body)``: built and checked once by the app.
        Declined when uvicorn's ``send`` would do more than write: an answer already
        started, a paused or closed transport, a connection to close after the answer, a
        ``HEAD`` request, or an access log line to write.
        """
        if (
            self.response_started
            or self.disconnected
            or self.flow.write_paused
            or not self.keep_alive
            or self.access_log
            or self.scope["method"] == "HEAD"
        ):
            return False
        self.response_started = True
        self.waiting_for_100_continue = False
        parts = [STATUS_LINE[status]]
        for name, value in self.default_headers:  # uvicorn's own: date (and server)
            parts += (name.lower(), b": ", value, b"\r\n")
        parts += (head, b"\r\n", body)
        self.transport.write(b"".join(parts))
        self.chunked_encoding = False
        self.expected_content_length = 0
        self.response_complete = True
        self.message_event.set()
        self.on_response()
        return True


def use_one_write(cycle: Any) -> None:
    """Make a cycle uvicorn just created a :class:`OneWriteCycle` (before its app runs),
    offering its :meth:`~OneWriteCycle.send_whole` in the scope's extensions.

    uvicorn builds its cycles itself, so the class is switched on the new instance: the
    app's task was created but has not run, and looks ``send`` up when it does.
    """
    if type(cycle) is RequestResponseCycle:
        cycle.__class__ = OneWriteCycle
        extensions: dict[str, Any] = cycle.scope.setdefault("extensions", {})
        extensions[WHOLE_ANSWER] = cast(OneWriteCycle, cycle).send_whole
