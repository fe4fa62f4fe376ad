"""One write a response (`api.connections.HeadWithBody`): a whole answer's head and body leave in
one write; a head whose body is not ready is not held past the event loop's turn; order is kept."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from revshare.api.connections import EdgeLimits, HeadWithBody, connection_protocol
from tests.support.servers import ServerThread


class Recording:
    """A transport that keeps what is written to it (a unit test's stand-in for the socket)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def _run(body: Any) -> Recording:
    """Run `body(head_with_body, transport)` as a coroutine on a fresh loop; return the transport."""
    transport = Recording()

    async def main() -> None:
        writer = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        await body(writer, transport)

    asyncio.run(main())
    return transport


def test_a_head_and_the_body_that_follows_it_in_the_same_turn_are_one_write() -> None:
    async def body(writer: HeadWithBody, transport: Recording) -> None:
        writer.write(b"HEAD")
        assert transport.writes == []
        writer.write(b"BODY")
        assert transport.writes == [b"HEADBODY"]
        writer.write(b"MORE")

    assert _run(body).writes == [b"HEADBODY", b"MORE"]


def test_a_head_whose_body_is_not_ready_is_written_at_the_end_of_the_turn() -> None:
    async def body(writer: HeadWithBody, transport: Recording) -> None:
        writer.write(b"HEAD")
        await asyncio.sleep(0)  # one turn of the loop: the held head's flush runs in it
        assert transport.writes == [b"HEAD"]
        await asyncio.sleep(0.01)
        writer.write(b"FIRST EVENT")
        writer.write(b"SECOND EVENT")

    assert _run(body).writes == [b"HEAD", b"FIRST EVENT", b"SECOND EVENT"]


def test_closing_writes_a_held_head_first() -> None:
    async def body(writer: HeadWithBody, transport: Recording) -> None:
        writer.write(b"HEAD")
        writer.close()
        assert transport.writes == [b"HEAD"] and transport.closed
        await asyncio.sleep(0)  # the scheduled flush finds nothing to write

    transport = _run(body)
    assert transport.writes == [b"HEAD"]


def test_a_flush_with_nothing_held_writes_nothing_and_other_calls_reach_the_transport() -> None:
    async def body(writer: HeadWithBody, transport: Recording) -> None:
        writer.flush()
        assert transport.writes == []
        assert writer.get_extra_info("peername") == "info:peername"
        assert not writer.is_closing()
        writer.write(b"")  # an empty head (as uvicorn never writes) is still a head
        writer.write(b"BODY")

    assert _run(body).writes == [b"BODY"]


# On a real socket, through uvicorn and the gateway's connection protocol ------------------------

async def _slow_stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A whole answer on /whole (its body made 200 ms after its head, in the same turn); on /stream, a head, then a first event half a second later."""
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/whole":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
        time.sleep(0.2)  # the loop does not turn: written as it is sent, the head would arrive alone first
        await send({"type": "http.response.body", "body": b"whole"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await asyncio.sleep(0.5)
    await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    limits = EdgeLimits(max_header_bytes=8192, header_timeout_s=5, max_connections=16)
    with ServerThread(_slow_stream, http=connection_protocol(limits), ws="none") as running:
        yield running


def _connect(server: ServerThread) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def test_a_whole_answer_arrives_in_one_read(server: ServerThread) -> None:
    with _connect(server) as sock:
        for _ in range(3):  # on one kept-alive connection: each response is held and written anew
            sock.sendall(b"GET /whole HTTP/1.1\r\nhost: test\r\n\r\n")
            data = sock.recv(65536)
            assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nwhole"), data


def test_a_streams_head_arrives_before_its_first_event_is_ready(server: ServerThread) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nhost: test\r\n\r\n")
        head = sock.recv(65536)  # held until the first event, it would come with it
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n"), head
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, "closed before the stream ended"
            rest += chunk
        assert b"data: first" in rest
