"""A keep-alive HTTP/1.1 connection pool to one origin, on asyncio's Protocol API and httptools.

The upstream engine's client: aiohttp spent a quarter of the gateway's event-loop time per
request on the upstream call (docs/BENCHMARKS.md); this pool does only what that call needs.
One origin (http or https, a base path such as `/v1`), fixed headers, Content-Length bodies;
answers framed by Content-Length, chunks or the connection's close, parsed by httptools straight
from `data_received`. At most `limit` connections in use (later requests queue in order); one
goes back to the pool only when its answer was read whole and kept alive, and is dropped after
`KEEPALIVE_S` idle. A kept-alive connection the server closed while idle (EOF or reset before a
byte of the answer) is retried once on a fresh one; a fresh one's failure is final. One total
deadline (`timeout_s`) covers the whole exchange, a stream's body included; each new connection
has `connect_timeout_s`; both raise TimeoutError. A stream's body comes as lines (bytes, each with
its b"\\n"), split once per received batch; reading pauses while `HIGH_WATER` bytes wait.

Errors::

    OSError
     └── UpstreamConnectionError      refused, reset, closed early, TLS failure: unreachable
          └── UpstreamProtocolError   an answer that is not HTTP/1.1, or a line too long

Leaving an exchange early (an error, a cancelled task, a reader that stopped) closes its
connection: a half-read connection is never reused.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = ["HIGH_WATER", "KEEPALIVE_S", "MAX_LINE", "ConnectionPool", "Exchange", "UpstreamConnectionError",
           "UpstreamProtocolError"]

KEEPALIVE_S = 60.0  # an idle connection older than this is closed, not reused
HIGH_WATER = 256 * 1024  # stream bytes buffered for the reader before reading pauses
MAX_LINE = 4 * 1024 * 1024  # one stream line (an SSE event) may be this long, no longer


class UpstreamConnectionError(OSError):
    """The upstream could not be reached or dropped the exchange."""


class UpstreamProtocolError(UpstreamConnectionError):
    """The upstream answered something this client cannot read as HTTP/1.1."""


class _Connection(asyncio.Protocol):
    """One socket and its response parser; the state of the response being read."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.requests = 0  # requests sent on this connection; > 1 means it was reused
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        """Forget the last response (the connection is idle, or a new request goes out)."""
        self.in_flight = self.got_bytes = self.complete = self.keep_alive = False
        self.framed = False  # Content-Length or chunked: else the body ends with the connection
        self.status = self.buffered = 0
        self.chunks: list[bytes] = []
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.wake = self.wake_on_body = self.paused = False
        self.pause_above = 0  # 0: never pause (a whole body is being read)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, not a subclass

    def data_received(self, data: bytes) -> None:
        if not self.in_flight:  # nothing asked: a server that talks out of turn is not reused
            self.close()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self.fail(UpstreamProtocolError(f"the upstream's answer is not HTTP/1.1: {exc}"))
            self.close()
            return
        if self.wake:
            self.wake = False
            self._wake()
        if self.pause_above and self.buffered > self.pause_above and not self.paused and self.transport:
            self.paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.in_flight and not self.complete:
            if exc is None and self.status and not self.framed:
                self.complete = True  # a body delimited by the connection's close
            else:
                what = f": {exc}" if exc else ""
                self.fail(UpstreamConnectionError(f"the upstream closed the connection before its answer ended{what}"))
        self._wake()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 14:
            self.framed = self.framed or name.lower() == b"content-length"
        elif len(name) == 17:
            self.framed = self.framed or (name.lower() == b"transfer-encoding" and b"chunked" in value.lower())

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.wake = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.wake_on_body:
            self.wake = True

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self.wake = True

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.requests += 1
        self.in_flight = True
        self.transport.write(data)

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    def expire(self) -> None:
        """The exchange's total deadline passed: an unfinished response ends with TimeoutError."""
        if not self.complete:
            self.fail(TimeoutError())
            self.close()

    def resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def next_event(self) -> asyncio.Future[None]:
        """Done at the next event the reader waits for (headers, body, the end, an error), which
        the reader then looks for; raises the response's error if it has one."""
        if self.error is not None:
            raise self.error
        self.resume()  # the reader wants more: never wait on a paused socket
        self.waiter = asyncio.get_running_loop().create_future()  # left set: _wake skips a done one
        return self.waiter

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Exchange:
    """One request and its response: `async with pool.request(...) as response`.

    Entering sends the request and waits for the response's status line and headers; then
    `status`, and either `read()` (the whole body) or `lines()` (the body as lines). Leaving
    returns the connection to the pool if the response was read whole, else closes it.
    """

    def __init__(self, pool: ConnectionPool, data: bytes) -> None:
        self._pool = pool
        self._data = data
        self._conn: _Connection | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.status = 0  # the answer's, once entered

    async def __aenter__(self) -> Exchange:
        pool, loop = self._pool, asyncio.get_running_loop()
        deadline = loop.time() + pool.timeout_s
        await pool._acquire_slot(deadline)
        try:
            conn = pool._take_idle(loop.time()) or await pool._connect(deadline)
            while True:
                self._conn, self._timer = conn, loop.call_at(deadline, conn.expire)
                try:
                    await self._send(conn)
                    break
                except UpstreamConnectionError:
                    # A kept-alive connection the server closed while idle: once, on a fresh one.
                    if conn.requests < 2 or conn.got_bytes:
                        raise
                    self._timer.cancel()
                    conn.close()
                    conn = await pool._connect(deadline)
        except BaseException:
            self._finish()
            raise
        self.status = conn.status
        return self

    async def _send(self, conn: _Connection) -> None:
        """Sends the request on `conn` and waits for the answer's status line and headers."""
        conn._reset()
        conn.send(self._data)
        while not conn.status:
            await conn.next_event()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        conn, self._conn, self._timer = self._conn, None, None
        self._pool._release(conn)

    async def read(self) -> bytes:
        """The whole body."""
        conn = self._conn
        assert conn is not None, "read() after the exchange ended"
        while not conn.complete:
            await conn.next_event()
        body, conn.chunks, conn.buffered = b"".join(conn.chunks), [], 0
        return body

    def lines(self) -> _Lines:
        """The body as an async iterator of lines, each ending in b"\\n" except a last partial one."""
        conn = self._conn
        assert conn is not None, "lines() after the exchange ended"
        conn.wake_on_body, conn.pause_above = True, HIGH_WATER
        return _Lines(conn)


class _Lines:
    """Splits the received body into lines once per batch of received data, not byte by byte."""

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self._lines: list[bytes] = []
        self._next = 0
        self._rest = b""  # the start of a line whose end has not arrived

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> bytes:
        if self._next < len(self._lines):
            self._next += 1
            return self._lines[self._next - 1]
        conn = self._conn
        while True:
            if conn.chunks:
                data = self._rest + b"".join(conn.chunks) if self._rest else b"".join(conn.chunks)
                conn.chunks, conn.buffered = [], 0
                end = data.rfind(b"\n") + 1
                self._rest = data[end:] if end < len(data) else b""
                lines = self._lines = _split(data[:end] if end < len(data) else data) if end else []
                if len(self._rest) > MAX_LINE or (end > MAX_LINE and max(map(len, lines)) > MAX_LINE):
                    raise UpstreamProtocolError(f"the upstream sent a line longer than {MAX_LINE} bytes")
                if lines:
                    self._next = 1
                    return lines[0]
            elif conn.complete:
                if self._rest:
                    line, self._rest = self._rest, b""
                    return line
                raise StopAsyncIteration
            else:
                await conn.next_event()


def _split(block: bytes) -> list[bytes]:
    """Lines of `block` (which ends in b"\\n"), split on b"\\n" alone, as aiohttp's reader does."""
    if b"\r" not in block:
        return block.splitlines(keepends=True)  # in C; it would also split on a bare b"\r"
    return [line + b"\n" for line in block[:-1].split(b"\n")]


class ConnectionPool:
    """Keep-alive connections to the origin of `base_url`; `request()` prefixes its base path."""

    def __init__(self, base_url: str, headers: dict[str, str], *, limit: int, timeout_s: float,
                 connect_timeout_s: float, ssl_context: ssl.SSLContext | None = None) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be http:// or https:// with a host, got {base_url!r}")
        self.timeout_s, self._connect_timeout_s = timeout_s, connect_timeout_s
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = (ssl_context or ssl.create_default_context()) if url.scheme == "https" else None
        self._base_path = url.path.rstrip("/")
        host = (f"[{self._host}]" if ":" in self._host else self._host) + (f":{url.port}" if url.port else "")
        fixed = {"Host": host, "User-Agent": "revshare", **headers}
        self._fixed_headers = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._limit, self._in_use = limit, 0  # connections in use, at most limit
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._idle: list[_Connection] = []  # most recently used last: reused first
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    def request(self, method: str, path: str, body: bytes | None = None) -> Exchange:
        """An exchange to enter with `async with`; `path` follows the base URL's path."""
        head = f"{method} {self._base_path}{path} HTTP/1.1\r\n".encode("latin-1") + self._fixed_headers
        if body is None:
            return Exchange(self, head + b"\r\n")
        return Exchange(self, b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))

    async def close(self) -> None:
        """Closes idle connections now and busy ones when their exchanges end; fails the queue."""
        self._closed = True
        self._sweep(close_all=True)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(UpstreamConnectionError("the connection pool is closed"))
        self._waiters.clear()

    async def _acquire_slot(self, deadline: float) -> None:
        if self._closed:
            raise UpstreamConnectionError("the connection pool is closed")
        if self._in_use < self._limit and not self._waiters:
            self._in_use += 1
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, deadline - loop.time())
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release_slot()  # granted as we left: pass it on
            else:
                with contextlib.suppress(ValueError):  # already popped by close()
                    self._waiters.remove(waiter)
            raise

    def _release_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the next in line
                return
        self._in_use -= 1

    def _take_idle(self, now: float) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < KEEPALIVE_S:
                return conn
            conn.close()
        return None

    async def _connect(self, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        timeout = min(self._connect_timeout_s, deadline - loop.time())
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(_Connection, self._host, self._port, ssl=self._ssl)
        except TimeoutError:
            raise  # an OSError too, but a timeout is told apart
        except OSError as exc:
            raise UpstreamConnectionError(f"cannot connect to {self._host}:{self._port}: {exc}") from exc
        return conn

    def _release(self, conn: _Connection | None) -> None:
        """Ends an exchange: its connection back to the idle pool if whole and kept alive."""
        if conn is not None:
            if conn.complete and conn.keep_alive and conn.error is None and not conn.closed and not self._closed:
                conn.resume()
                conn.in_flight = False  # bytes from now on are out of turn
                conn.chunks.clear()
                conn.idle_since = asyncio.get_running_loop().time()
                self._idle.append(conn)
                if self._sweeper is None:
                    self._sweeper = asyncio.get_running_loop().call_at(conn.idle_since + KEEPALIVE_S, self._sweep)
            else:
                conn.close()
        self._release_slot()

    def _sweep(self, close_all: bool = False) -> None:
        """Closes connections idle for KEEPALIVE_S (all of them at close); runs while any is idle."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._sweeper = None
        now = asyncio.get_running_loop().time()
        for conn in self._idle:
            if close_all or now - conn.idle_since >= KEEPALIVE_S:
                conn.close()
        self._idle = [conn for conn in self._idle if not conn.closed]
        if self._idle:  # the oldest is first
            self._sweeper = asyncio.get_running_loop().call_at(self._idle[0].idle_since + KEEPALIVE_S, self._sweep)
