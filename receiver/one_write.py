"""One socket write per response: the head goes out with the first part of the body.

uvicorn's request cycle writes a response's status line and headers as soon as the app
sends ``http.response.start``, and the body with the next message: two ``send`` system
calls and two TCP segments per callback answer, each waking the client. Every answer of
relaywarden (and of most ASGI apps) sends both messages back to back, so
:class:`OneWriteCycle` holds the head until the next message and writes the two together.
Nothing else changes: uvicorn's own ``send`` still checks and frames every message.

A head is held only while the app runs between its two ``send`` calls; if the app ends
without a body, uvicorn closes the connection as it would have after writing the head.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

__all__ = ["OneWriteCycle", "use_one_write"]


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


def use_one_write(cycle: Any) -> None:
    """Make a cycle uvicorn just created a :class:`OneWriteCycle` (before its app runs).

    uvicorn builds its cycles itself, so the class is switched on the new instance: the
    app's task was created but has not run, and looks ``send`` up when it does.
    """
    if type(cycle) is RequestResponseCycle:
        cycle.__class__ = OneWriteCycle
