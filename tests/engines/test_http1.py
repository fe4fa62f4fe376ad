"""The upstream engine's HTTP/1.1 client against real local servers (asyncio servers on real sockets).

Each test scripts an origin: `Origin(answer)` calls `answer(seen, writer)` for each request it
reads and keeps the connection while the answer returns True (False: it closes the connection;
None: it stays silent until the client closes); it records what it saw. The tests run on
asyncio's loop; those without arguments run again on uvloop's (the gateway's, under uvicorn),
whose transports are not asyncio.Transport subclasses.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvloop

from revshare.engines import http1
from revshare.engines.http1 import ConnectionPool, UpstreamConnectionError, UpstreamProtocolError

HEADERS = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}


@dataclass
class Seen:
    """One request as the origin read it."""

    line: str
    headers: dict[str, str]
    body: bytes
    conn: int  # which connection (0, 1, ...) it came on
    index: int  # its place on that connection (0: the first)


Answer = Callable[[Seen, asyncio.StreamWriter], Awaitable[bool | None]]


class Origin:
    """A scripted HTTP/1.1 server on a free local port."""

    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.seen: list[Seen] = []
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.client_closed: list[int] = []  # connections whose client closed them (EOF or reset)
        self.changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Origin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self.connections
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            index = 0
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                seen = Seen(head[0], headers, body, conn, index)
                self.seen.append(seen)
                index += 1
                keep = await self.answer(seen, writer)
                if keep is None:
                    await reader.read()
                    raise ConnectionResetError
                if not keep:
                    break
            # Closed by the answer: say so, and wait for the client's side to close too.
            writer.write_eof()
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.client_closed.append(conn)
        except asyncio.CancelledError:
            pass  # the test is over (a cancelled handler task would be logged as an error)
        finally:
            self.open -= 1
            writer.close()
            self.changed.set()

    async def until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> Answer:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool | None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body))
        return True

    return answer


def chunked(pieces: list[bytes], pause_s: float = 0.0) -> Answer:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool | None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            if pause_s:
                await asyncio.sleep(pause_s)
        writer.write(b"0\r\n\r\n")
        return True

    return answer


def make_pool(origin: Origin, limit: int = 4, timeout_s: float = 10.0, connect_timeout_s: float = 5.0,
              ssl_context: ssl.SSLContext | None = None, scheme: str = "http") -> ConnectionPool:
    return ConnectionPool(origin.url(scheme), HEADERS, limit=limit, timeout_s=timeout_s,
                          connect_timeout_s=connect_timeout_s, ssl_context=ssl_context)


@asynccontextmanager
async def pool_for(origin: Origin, limit: int = 4, timeout_s: float = 10.0, scheme: str = "http",
                   ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[ConnectionPool]:
    pool = make_pool(origin, limit=limit, timeout_s=timeout_s, scheme=scheme, ssl_context=ssl_context)
    try:
        yield pool
    finally:
        await pool.close()


async def post(pool: ConnectionPool, body: bytes = b'{"q":1}') -> tuple[int, bytes]:
    async with pool.request("POST", "/chat/completions", body) as response:
        return response.status, await response.read()


async def stream(pool: ConnectionPool) -> list[bytes]:
    async with pool.request("POST", "/chat/completions", b"{}") as response:
        return [line async for line in response.lines()]


async def test_a_content_length_answer_carries_the_base_path_and_the_engines_headers() -> None:
    async with Origin(ok(b'{"id":"x"}')) as origin, pool_for(origin) as pool:
        assert await post(pool, b'{"model":"m"}') == (200, b'{"id":"x"}')
        seen = origin.seen[0]
        assert seen.line == "POST /v1/chat/completions HTTP/1.1"
        assert seen.headers["host"] == f"127.0.0.1:{origin.port}"
        assert seen.headers["authorization"] == "Bearer sk-test"
        assert seen.headers["content-type"] == "application/json"
        assert (seen.headers["content-length"], seen.body) == ("13", b'{"model":"m"}')


async def test_a_get_sends_no_body() -> None:
    async with Origin(ok()) as origin, pool_for(origin) as pool:
        async with pool.request("GET", "/models") as response:
            assert (response.status, await response.read()) == (200, b'{"ok":true}')
        assert origin.seen[0].line == "GET /v1/models HTTP/1.1"
        assert "content-length" not in origin.seen[0].headers


async def test_an_error_status_is_an_answer_not_an_exception() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}')
        return True

    async with Origin(answer) as origin, pool_for(origin) as pool:
        assert await post(pool) == (429, b"{}")
        assert await post(pool) == (429, b"{}")
        assert origin.connections == 1


async def test_a_chunked_answer_reads_whole_and_as_lines() -> None:
    pieces = [b"data: 1\n\nda", b"ta: 2\n", b"\n", b"data: [DONE]\n\ntail"]
    async with Origin(chunked(pieces)) as origin, pool_for(origin) as pool:
        assert await post(pool) == (200, b"".join(pieces))
        assert await stream(pool) == [b"data: 1\n", b"\n", b"data: 2\n", b"\n", b"data: [DONE]\n", b"\n", b"tail"]
        assert origin.connections == 1


@pytest.mark.parametrize("pieces", [
    [b"data: a\n\n", b"data: b\n\n"],
    [b"a\r\nb\rc\n", b"\n\n", b"d"],  # \r alone ends no line
    [b"no newline at all"],
    [b"x" * 70_000 + b"\n", b"y\n"],
    [],
], ids=["sse", "carriage-returns", "unterminated", "long", "empty"])
async def test_lines_are_those_aiohttp_yields(pieces: list[bytes]) -> None:
    async with Origin(chunked(pieces)) as origin, pool_for(origin) as pool:
        ours = await stream(pool)
        async with aiohttp.ClientSession(read_bufsize=2**20) as session, \
                session.post(origin.url() + "/chat/completions", data=b"{}") as response:
            theirs = [line async for line in response.content]
        assert ours == theirs


async def test_an_answer_framed_by_the_connections_close_ends_with_it() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n")
        await writer.drain()
        writer.write(b"data: 2\n\n")
        return False

    async with Origin(answer) as origin, pool_for(origin) as pool:
        assert await stream(pool) == [b"data: 1\n", b"\n", b"data: 2\n", b"\n"]
        assert await post(pool) == (200, b"data: 1\n\ndata: 2\n\n")
        assert origin.connections == 2  # never reused


async def test_connection_close_is_honoured() -> None:
    async with Origin(ok(extra=b"Connection: close\r\n")) as origin, pool_for(origin) as pool:
        for _ in range(3):
            assert (await post(pool))[0] == 200
        assert origin.connections == 3


async def test_sequential_requests_share_one_kept_alive_connection() -> None:
    async with Origin(ok()) as origin, pool_for(origin) as pool:
        for i in range(10):
            assert await post(pool, b'{"n":%d}' % i) == (200, b'{"ok":true}')
        assert origin.connections == 1
        assert [s.index for s in origin.seen] == list(range(10))


async def test_an_idle_connection_the_server_closed_is_retried_once_on_a_fresh_one() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool | None:
        if seen.index == 1:
            return False  # closes without a byte: what a keep-alive timeout does, racing our request
        return await ok()(seen, writer)

    async with Origin(answer) as origin, pool_for(origin) as pool:
        assert (await post(pool, b"1"))[0] == 200
        assert (await post(pool, b"2"))[0] == 200
        assert [(s.conn, s.index, s.body) for s in origin.seen] == [(0, 0, b"1"), (0, 1, b"2"), (1, 0, b"2")]


async def test_a_reused_connection_is_retried_only_once() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool | None:
        if (seen.conn, seen.index) == (0, 0):
            return await ok()(seen, writer)
        return False

    async with Origin(answer) as origin, pool_for(origin) as pool:
        await post(pool)
        with pytest.raises(UpstreamConnectionError, match="closed the connection"):
            await post(pool)
        assert origin.connections == 2


async def test_a_fresh_connections_failure_is_not_retried() -> None:
    async def close(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return False

    async with Origin(close) as origin, pool_for(origin) as pool:
        with pytest.raises(UpstreamConnectionError):
            await post(pool)
        assert origin.connections == 1


async def test_a_refused_connection_is_an_upstream_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pool = ConnectionPool(f"http://127.0.0.1:{port}/v1", HEADERS, limit=2, timeout_s=5, connect_timeout_s=5)
    with pytest.raises(UpstreamConnectionError, match="cannot connect"):
        await post(pool)
    await pool.close()


@contextmanager
def unaccepting_port() -> Iterator[int]:
    """A port whose listen queue is full, so that a new connection's SYN goes unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        yield listener.getsockname()[1]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_a_connect_past_its_timeout_is_a_timeout_error() -> None:
    with unaccepting_port() as port:
        pool = ConnectionPool(f"http://127.0.0.1:{port}", HEADERS, limit=2, timeout_s=30, connect_timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await post(pool)
        assert time.monotonic() - started < 3  # the connect timeout, not the total one
        await pool.close()


async def test_an_answer_that_never_starts_times_out() -> None:
    async def silent(seen: Seen, writer: asyncio.StreamWriter) -> None:
        return None

    async with Origin(silent) as origin, pool_for(origin, timeout_s=0.3) as pool:
        with pytest.raises(TimeoutError):
            await post(pool)
        await origin.until(lambda: origin.client_closed == [0])


async def test_the_total_timeout_covers_a_streams_body() -> None:
    async with Origin(chunked([b"data: x\n\n"] * 100, pause_s=0.1)) as origin, \
            pool_for(origin, timeout_s=0.5) as pool:
        got: list[bytes] = []
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with pool.request("POST", "/chat/completions", b"{}") as response:
                async for line in response.lines():
                    got.append(line)
        assert 0.4 < time.monotonic() - started < 3
        assert 4 <= len(got) < 200  # some lines came before the deadline, not all
        await origin.until(lambda: origin.client_closed == [0])


async def test_the_total_timeout_covers_a_whole_bodys_read() -> None:
    async def partial(seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")

    async with Origin(partial) as origin, pool_for(origin, timeout_s=0.3) as pool:
        with pytest.raises(TimeoutError):
            await post(pool)
        await origin.until(lambda: origin.client_closed == [0])


async def test_a_cancelled_reader_closes_its_connection() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool | None:
        if seen.conn == 0:  # the start of a stream, then nothing
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n")
            return None
        return await ok()(seen, writer)

    async with Origin(answer) as origin, pool_for(origin) as pool:
        first = asyncio.Event()

        async def read() -> None:
            async with pool.request("POST", "/chat/completions", b"{}") as response:
                async for _ in response.lines():
                    first.set()

        task = asyncio.create_task(read())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await origin.until(lambda: origin.client_closed == [0])
        assert await post(pool) == (200, b'{"ok":true}')
        assert origin.connections == 2  # the half-read connection was not reused


async def test_a_reader_that_stops_early_does_not_return_a_half_read_connection() -> None:
    async with Origin(chunked([b"data: 1\n\n", b"data: 2\n\n"], pause_s=0.2)) as origin, pool_for(origin) as pool:
        async with pool.request("POST", "/chat/completions", b"{}") as response:
            async for _ in response.lines():
                break
        await stream(pool)
        assert origin.connections == 2


async def test_lines_of_a_mebibyte_and_more_arrive_whole() -> None:
    big = b"data: " + b"x" * (3 * 2**19) + b"\n"
    pieces = [big[i:i + 65_536] for i in range(0, len(big), 65_536)] + [b"\ndata: [DONE]\n\n"]
    async with Origin(chunked(pieces)) as origin, pool_for(origin) as pool:
        assert await stream(pool) == [big, b"\n", b"data: [DONE]\n", b"\n"]


async def test_a_line_past_the_limit_is_a_protocol_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_LINE", 1000)
    async with Origin(chunked([b"x" * 600, b"x" * 600, b"\n"])) as origin, pool_for(origin) as pool:
        with pytest.raises(UpstreamProtocolError, match="longer than 1000"):
            await stream(pool)
    async with Origin(chunked([b"x" * 600 + b"\n" + b"x" * 1200 + b"\n"])) as origin, pool_for(origin) as pool:
        with pytest.raises(UpstreamProtocolError, match="longer than 1000"):
            await stream(pool)


async def test_a_slow_reader_pauses_the_socket() -> None:
    line = b"data: " + b"x" * 1000 + b"\n"
    total = 64 * 2**20 // len(line)
    written = 0

    async def flood(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        nonlocal written
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = line * 64
        for _ in range(total // 64):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            written += len(piece)
        writer.write(b"0\r\n\r\n")
        return True

    async with Origin(flood) as origin, pool_for(origin, timeout_s=60) as pool, \
            pool.request("POST", "/chat/completions", b"{}") as response:
        lines = response.lines()
        assert await lines.__anext__() == line
        await asyncio.sleep(0.5)
        # What the sockets' buffers hold, and little more: not the 64 MiB on offer.
        assert written < 24 * 2**20
        assert 1 + len([x async for x in lines]) == total // 64 * 64


async def test_concurrent_requests_queue_for_the_pools_connections() -> None:
    async def slow(seen: Seen, writer: asyncio.StreamWriter) -> bool | None:
        await asyncio.sleep(0.02)
        return await ok(seen.body)(seen, writer)

    async with Origin(slow) as origin, pool_for(origin, limit=3) as pool:
        answers = await asyncio.gather(*(post(pool, b"%d" % i) for i in range(20)))
        assert answers == [(200, b"%d" % i) for i in range(20)]
        assert origin.max_open <= 3 and origin.connections == 3


async def test_a_queued_request_times_out_waiting_for_a_connection() -> None:
    async def slow(seen: Seen, writer: asyncio.StreamWriter) -> bool | None:
        await asyncio.sleep(1)
        return await ok()(seen, writer)

    async with Origin(slow) as origin, pool_for(origin, limit=1, timeout_s=0.5) as pool:
        results = await asyncio.gather(post(pool), post(pool), return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        assert len(origin.seen) == 1  # the second never got a connection


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n",
    b"SPDY/3 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["bad-content-length", "not-http", "bad-chunk-size"])
async def test_a_malformed_answer_is_a_protocol_error_not_a_hang(answer: bytes) -> None:
    async def garbage(seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(answer)

    async with Origin(garbage) as origin, pool_for(origin, timeout_s=60) as pool:
        async with asyncio.timeout(5):
            with pytest.raises(UpstreamProtocolError, match=r"not HTTP/1\.1"):
                await post(pool)
            await origin.until(lambda: origin.client_closed == [0])


async def test_a_truncated_answer_is_a_connection_error() -> None:
    async def truncated(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        return False

    async with Origin(truncated) as origin, pool_for(origin) as pool:
        with pytest.raises(UpstreamConnectionError, match="before its answer ended"):
            await post(pool)


async def test_idle_connections_are_dropped_after_the_keep_alive_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "KEEPALIVE_S", 0.2)
    async with Origin(ok()) as origin, pool_for(origin) as pool:
        await post(pool)
        await origin.until(lambda: origin.client_closed == [0])  # closed by the pool, while idle
        await post(pool)
        assert origin.connections == 2


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_https_with_a_verified_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with Origin(chunked([b"data: 1\n\n"]), tls=server_tls) as origin:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with pool_for(origin, scheme="https", ssl_context=trusting) as pool:
            assert await stream(pool) == [b"data: 1\n", b"\n"]
            assert await stream(pool) == [b"data: 1\n", b"\n"]
            assert origin.connections == 1
        async with pool_for(origin, scheme="https") as untrusting:  # the system's CAs do not know it
            with pytest.raises(UpstreamConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
                await post(untrusting)


ON_UVLOOP = [test for name, test in list(globals().items())
             if name.startswith("test_") and inspect.iscoroutinefunction(test) and not inspect.signature(test).parameters]


@pytest.mark.parametrize("test", ON_UVLOOP, ids=lambda test: test.__name__.removeprefix("test_"))
def test_on_uvloop(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    uvloop.run(test())
