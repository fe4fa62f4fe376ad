"""The HTTP/1.1 connection limits uvicorn's httptools protocol lacks: header size, a deadline for
the headers, and a cap on open connections (`server.max_header_bytes`, `server.header_timeout_s`,
`server.max_connections`; docs/RELIABILITY.md).

    uvicorn.run(app, http=connection_protocol(catalog.server), ...)

httptools buffers a header line whole before it calls back, and uvicorn arms no timer until a
first response completes, so without these an 8 MiB header is accepted and a connection that
sends half a header stays open for good. The bytes are counted as they arrive, before the parser
buffers them; the deadlines are checked by one sweep a second rather than a timer per request, so
the request path pays two attribute stores. Refusals are OpenAI-shaped JSON on a closed
connection: 431 (headers too large), 408 (headers too slow), 503 (too many connections), and 400
for what is not HTTP at all.

One write a response: uvicorn writes a response's head as soon as the app starts it and its body
as each part comes, two system calls (and two wake-ups of the client) for a whole answer. Each
request's writes go through `HeadWithBody`, which holds the head until the first body bytes and
writes both at once; a head whose body is not ready in the same turn of the event loop (a stream
still waiting for its first event) is written at the end of that turn. Measured: about 2% of the
gateway's CPU a request (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from revshare.config.sections import ServerConfig

__all__ = ["EdgeLimits", "HeadWithBody", "connection_protocol", "refusal_bytes"]

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large",
            503: b"Service Unavailable"}


class EdgeLimits:
    """The limits one server applies, read once from `server.*`."""

    __slots__ = ("header_timeout_s", "max_connections", "max_header_bytes")

    def __init__(self, max_header_bytes: int, header_timeout_s: float, max_connections: int) -> None:
        self.max_header_bytes = max_header_bytes
        self.header_timeout_s = header_timeout_s
        self.max_connections = max_connections

    @classmethod
    def of(cls, server: ServerConfig) -> EdgeLimits:
        return cls(server.max_header_bytes, server.header_timeout_s, server.max_connections)


def refusal_bytes(status: int, message: str, code: str) -> bytes:
    """A whole HTTP/1.1 response that refuses a connection: OpenAI-shaped JSON, then close."""
    body = json.dumps({"error": {"message": message,
                                 "type": "server_error" if status >= 500 else "invalid_request_error",
                                 "param": None, "code": code}}).encode()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % (status, _REASONS[status], len(body))) + body


def connection_protocol(server: ServerConfig | EdgeLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `server`'s limits: pass it as `uvicorn.run(http=...)`.

    A class per server, so that the deadline sweep belongs to that server's connections."""
    limits = server if isinstance(server, EdgeLimits) else EdgeLimits.of(server)
    return type("LimitedHttpProtocol", (_LimitedHttpProtocol,), {"limits": limits, "_sweeping": None})


class _LimitedHttpProtocol(HttpToolsProtocol):
    limits: EdgeLimits
    # The loop this server's deadline sweep runs on, once its first connection arrives.
    _sweeping: asyncio.AbstractEventLoop | None

    # Bytes of the current request head received so far; None while its body is read.
    _head_bytes: int | None = 0
    # loop.time() when the current head began; None once the headers are complete (and while a
    # response is being written: after it uvicorn's keep-alive timer closes an idle connection).
    _head_since: float | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_since = self.loop.time()
        cls = type(self)
        if cls._sweeping is not self.loop:
            cls._sweeping = self.loop
            self.loop.call_later(self._sweep_interval(), _sweep, cls, self.loop, self.server_state)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, f"This server has {self.limits.max_connections} connections open, its limit "
                              "(server.max_connections); retry shortly.", "too_many_connections")

    def data_received(self, data: bytes) -> None:
        seen = self._head_bytes
        if seen is None:
            super().data_received(data)
        elif seen + len(data) <= self.limits.max_header_bytes:
            self._head_bytes = seen + len(data)
            super().data_received(data)
        else:
            self._feed_past_budget(data)

    def _feed_past_budget(self, data: bytes) -> None:
        """Feed only what the head's budget allows; if the head is still not complete, refuse.

        The budget is counted before the parser sees a piece, and restarts when a request ends
        inside it, so a pipelined head may use up to twice it: a bound on memory, never a refusal
        of a head within it."""
        view = memoryview(data)
        while view and not self.transport.is_closing():
            seen = self._head_bytes
            if seen is None:
                super().data_received(view)  # type: ignore[arg-type]
                return
            room = self.limits.max_header_bytes - seen
            if room <= 0:
                self._refuse(431, f"The request's headers are larger than this server accepts "
                                  f"({self.limits.max_header_bytes} bytes, server.max_header_bytes).",
                             "request_header_fields_too_large")
                return
            piece, view = view[:room], view[room:]
            self._head_bytes = seen + len(piece)
            super().data_received(piece)  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._head_since = None
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # a request answered by this cycle
            cycle.transport = HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._head_bytes = 0  # what follows is the next request's head
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "The request is not valid HTTP/1.1.", "invalid_http")

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_since = None
        super().connection_lost(exc)

    def head_overdue(self, now: float) -> bool:
        since = self._head_since
        return since is not None and now - since > self.limits.header_timeout_s

    def head_deadline_passed(self) -> None:
        """Close a connection whose headers did not arrive in time: 408 if it sent some of them."""
        self._head_since = None
        if self._head_bytes:
            self._refuse(408, f"The request's headers did not arrive within {self.limits.header_timeout_s:g} s "
                              "(server.header_timeout_s).", "request_timeout")
        elif not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer and close, unless a response is being written here (then only close)."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._head_since = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(refusal_bytes(status, message, code))
        elif isinstance(self.cycle.transport, HeadWithBody):
            self.cycle.transport.flush()  # what the response wrote so far, then the close
        self.transport.close()

    def _sweep_interval(self) -> float:
        return min(1.0, max(0.05, self.limits.header_timeout_s / 4))


class HeadWithBody:
    """One response's writes: its head (always uvicorn's first write of a response) is held until
    the first body bytes, or the end of the event loop's turn, whichever comes first; everything
    after goes straight through. Order is kept: nothing passes a held head."""

    __slots__ = ("_held", "_holding", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._holding = True  # until the first write has been held (and then passed on)

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif self._holding:
            self._holding = False
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write a held head now."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:  # anything else uvicorn may ask of its transport
        return getattr(self._transport, name)


def _sweep(cls: type[_LimitedHttpProtocol], loop: asyncio.AbstractEventLoop, server_state: Any) -> None:
    """Close this server's connections whose headers are overdue; runs again while the loop runs."""
    now = loop.time()
    for connection in list(server_state.connections):
        if isinstance(connection, cls) and connection.head_overdue(now):
            connection.head_deadline_passed()
    if not loop.is_closed():
        loop.call_later(min(1.0, max(0.05, cls.limits.header_timeout_s / 4)), _sweep, cls, loop, server_state)
