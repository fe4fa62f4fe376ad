"""The HTTP edge on real sockets: header size (431), header deadline (408), open connections (503),
and what is not HTTP (400), each answered as OpenAI-shaped JSON on a closed connection, while
requests within the limits (pipelined, keep-alive, large bodies in one write) are served."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from revshare.api.connections import EdgeLimits, connection_protocol
from tests.support.servers import ServerThread, free_port
from tests.support.stub_gateway import start_gateway, stub_catalog_dict, stub_upstream, to_toml


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the number of body bytes it read."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = json.dumps({"path": scope["path"], "body_bytes": size}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def edge() -> Iterator[ServerThread]:
    limits = EdgeLimits(max_header_bytes=2048, header_timeout_s=0.5, max_connections=3)
    with ServerThread(_echo, http=connection_protocol(limits), ws="none", timeout_keep_alive=30) as server:
        yield server


def _connect(server: ServerThread) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response from `sock` (content-length framed); `buffer` keeps what follows it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a whole response head: {bytes(buffer)!r}")
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers["content-length"])
    start = len(head) + 4
    while len(buffer) < start + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        buffer += chunk
    body = bytes(buffer[start:start + length])
    del buffer[:start + length]
    return status, headers, body


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed the connection (reads end or reset), within the socket's timeout."""
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _error(body: bytes) -> dict[str, Any]:
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


def _get(path: str = "/", extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


def test_requests_within_the_limits_are_served_and_kept_alive(edge: ServerThread) -> None:
    with _connect(edge) as sock:
        buffer = bytearray()
        for n in range(3):
            sock.sendall(_get(f"/{n}", b"X-Fill: " + b"a" * 1500 + b"\r\n"))
            status, headers, body = _read_response(sock, buffer)
            assert status == 200 and json.loads(body)["path"] == f"/{n}"
            assert headers.get("connection") != "close"


def test_a_body_in_the_same_write_as_the_headers_is_not_counted_as_headers(edge: ServerThread) -> None:
    body = b"x" * 200_000
    with _connect(edge) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        status, _, answer = _read_response(sock, bytearray())
    assert status == 200 and json.loads(answer)["body_bytes"] == len(body)


def test_pipelined_requests_in_one_write_are_each_answered(edge: ServerThread) -> None:
    with _connect(edge) as sock:
        sock.sendall(b"".join(_get(f"/p{n}", b"X-Fill: " + b"b" * 1000 + b"\r\n") for n in range(6)))
        buffer = bytearray()
        paths = [json.loads(_read_response(sock, buffer)[2])["path"] for _ in range(6)]
    assert paths == [f"/p{n}" for n in range(6)]


@pytest.mark.parametrize("chunk", [100, 4096, 1 << 20])
def test_headers_over_the_limit_get_431_and_the_connection_closes(edge: ServerThread, chunk: int) -> None:
    request = _get("/", b"X-Big: " + b"c" * 8 * (1 << 20) + b"\r\n")
    with _connect(edge) as sock:
        sent = 0
        try:
            while sent < len(request):
                sock.sendall(request[sent:sent + chunk])
                sent += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, headers, body = _read_response(sock, bytearray())
        assert status == 431 and headers["connection"] == "close"
        error = _error(body)
        assert error["code"] == "request_header_fields_too_large" and "2048 bytes" in error["message"]
        assert error["type"] == "invalid_request_error"
        assert _closed(sock)
    assert sent < len(request), "the server read the whole 8 MiB header before refusing it"


def test_a_long_request_line_counts_as_headers(edge: ServerThread) -> None:
    with _connect(edge) as sock:
        sock.sendall(_get("/" + "u" * 3000))
        status, _, body = _read_response(sock, bytearray())
    assert status == 431 and _error(body)["code"] == "request_header_fields_too_large"


def test_headers_not_complete_in_time_get_408(edge: ServerThread) -> None:
    with _connect(edge) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        started = time.monotonic()
        status, headers, body = _read_response(sock, bytearray())
        waited = time.monotonic() - started
        assert status == 408 and headers["connection"] == "close"
        assert _error(body)["code"] == "request_timeout"
        assert _closed(sock)
    assert waited < 5, "the 0.5 s header deadline was not kept"


def test_trickled_headers_are_held_to_the_deadline_from_their_first_byte(edge: ServerThread) -> None:
    with _connect(edge) as sock:
        buffer = bytearray()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        for _ in range(20):  # a byte every 0.1 s: each write arrives in time, the whole head does not
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.1)
        sock.settimeout(5)
        try:
            status, _, body = _read_response(sock, buffer)
        except (ConnectionError, BrokenPipeError):
            pytest.fail("closed without an answer")
    assert status == 408 and _error(body)["code"] == "request_timeout"


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(edge: ServerThread) -> None:
    with _connect(edge) as sock:
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(65536) == b""
        assert time.monotonic() - started < 5


def test_the_deadline_does_not_touch_a_request_being_answered(edge: ServerThread) -> None:
    """The deadline is for headers: a body that takes longer than it, once the head is in, is read."""
    with _connect(edge) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
        time.sleep(1.2)
        sock.sendall(b"67890")
        status, _, body = _read_response(sock, bytearray())
    assert status == 200 and json.loads(body)["body_bytes"] == 10


def test_connections_past_the_limit_get_503_and_room_comes_back(edge: ServerThread) -> None:
    held = [_connect(edge) for _ in range(3)]
    try:
        for sock in held:  # each holds its slot with a request in progress
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
        with _connect(edge) as extra:
            status, headers, body = _read_response(extra, bytearray())
            assert status == 503 and headers["connection"] == "close"
            error = _error(body)
            assert error["code"] == "too_many_connections" and error["type"] == "server_error"
            assert _closed(extra)
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:
            with _connect(edge) as sock:
                sock.sendall(_get("/again"))
                status, _, body = _read_response(sock, bytearray())
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200
        for sock in held:
            sock.sendall(b"hello")
            assert _read_response(sock, bytearray())[0] == 200
    finally:
        for sock in held:
            sock.close()


def test_what_is_not_http_gets_400_json(edge: ServerThread) -> None:
    with _connect(edge) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
        status, _, body = _read_response(sock, bytearray())
        assert status == 400 and _error(body)["code"] == "invalid_http"
        assert _closed(sock)


def test_revshare_serve_applies_the_catalogs_limits(tmp_path: Path, sqlite_url: str) -> None:
    with stub_upstream() as upstream:
        raw = stub_catalog_dict(upstream)
        raw["server"].update(data_dir=str(tmp_path / "data"), max_header_bytes=4096, header_timeout_s=1.0)
        config = tmp_path / "revshare.toml"
        config.write_text(to_toml(raw))
        port = free_port()
        gateway = start_gateway(config, sqlite_url, port, tmp_path / "serve.log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(_get("/healthz", b"X-Big: " + b"d" * 5000 + b"\r\n"))
                status, _, body = _read_response(sock, bytearray())
                assert status == 431 and "4096 bytes" in _error(body)["message"]
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\n")
                assert _read_response(sock, bytearray())[0] == 408
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(_get("/healthz", b"X-Fill: " + b"e" * 3000 + b"\r\n"))
                assert _read_response(sock, bytearray())[0] == 200
        finally:
            gateway.terminate()
            gateway.wait(30)
