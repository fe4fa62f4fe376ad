"""The edge layer on its own, driven as the ASGI server drives it: the body's limit (declared or
not), the 500 that ends a bug's exception, a client that leaves mid-body, and what each counts.
The gateway-level tests (tests/api/test_errors.py, tests/api/test_hardening_wire.py) check the
same over real connections."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revshare.api.edge import Edge
from revshare.metrics import Metrics
from revshare.metrics.series import value_of
from revshare.serving.lease import OBSERVATION

LIMIT = 100


class Route:
    path = "/v1/chat/completions"


def _exchange(app: ASGIApp, messages: list[Message], headers: list[tuple[bytes, bytes]], method: str = "POST",
              metrics: Metrics | None = None) -> tuple[list[Message], Metrics]:
    """Runs one request through `Edge`; the client's messages, then `http.disconnect`."""
    metrics = metrics or Metrics()
    sent: list[Message] = []
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/v1/chat/completions", "headers": headers}
    asyncio.run(Edge(app, metrics, LIMIT, "off")(scope, receive, send))
    return sent, metrics


def _body_app(seen: list[bytes]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = Route()
        seen.append(await Request(scope, receive).body())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
    return app


def _counted(metrics: Metrics, route: str, status_class: str) -> float | None:
    value: float | None = value_of(metrics, "revshare_http_requests_total",
                                   {"route": route, "status_class": status_class, "outcome": "none"})
    return value


def _status(sent: list[Message]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def _chunks(*parts: bytes) -> list[Message]:
    return [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]


def test_a_declared_length_over_the_limit_is_413_before_the_app_runs() -> None:
    seen: list[bytes] = []
    sent, metrics = _exchange(_body_app(seen), _chunks(b"x" * 101), [(b"content-length", b"101")])
    assert _status(sent) == 413 and seen == []
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_too_large"
    assert _counted(metrics, "other", "4xx") == 1


def test_a_body_within_its_declared_length_reaches_the_app_through_the_servers_own_receive() -> None:
    receives: list[Receive] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        receives.append(receive)
        await _body_app([])(scope, receive, send)

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", b"2")]}
    asyncio.run(Edge(app, Metrics(), LIMIT, "off")(scope, receive, send))
    assert receives == [receive] and _status(sent) == 200  # no wrapper: nothing to pay per request


@pytest.mark.parametrize("headers", [
    [],  # chunked
    [(b"content-length", b"10"), (b"transfer-encoding", b"chunked")],  # chunked frames it, not the length
    [(b"content-length", b"10"), (b"content-length", b"10")],
    [(b"content-length", b"ten")],
], ids=["chunked", "length-beside-transfer-encoding", "length-twice", "length-not-a-number"])
def test_a_body_not_bound_by_one_declared_length_is_counted_as_it_comes(headers: list[tuple[bytes, bytes]]) -> None:
    seen: list[bytes] = []
    sent, metrics = _exchange(_body_app(seen), _chunks(b"x" * 60, b"y" * 41), headers)
    assert _status(sent) == 413 and seen == []
    assert _counted(metrics, "other", "4xx") == 1

    sent, metrics = _exchange(_body_app(seen), _chunks(b"x" * 60, b"y" * 40), headers)
    assert _status(sent) == 200 and seen == [b"x" * 60 + b"y" * 40]
    assert _counted(metrics, "/v1/chat/completions", "2xx") == 1


def test_a_chunked_body_read_here_is_handed_over_once_then_the_client_is_watched() -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.append(await receive())
        messages.append(await receive())  # what a disconnect watcher waits for
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    _exchange(app, _chunks(b"ab", b"cd"), [])
    assert messages == [{"type": "http.request", "body": b"abcd", "more_body": False}, {"type": "http.disconnect"}]


def test_a_get_is_not_read_here() -> None:
    seen: list[bytes] = []
    sent, _ = _exchange(_body_app(seen), _chunks(b"x" * 500), [], method="GET")
    assert _status(sent) == 200 and seen == [b"x" * 500]  # no body limit on a method without a body


def test_a_bug_before_the_answer_is_a_logged_500_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = Route()
        raise RuntimeError("a bug")

    sent, metrics = _exchange(app, _chunks(b"{}"), [(b"content-length", b"2")])
    assert _status(sent) == 500
    assert json.loads(sent[1]["body"])["error"]["code"] == "internal_error"
    assert not any(m.get("headers") and (b"connection", b"close") in m["headers"] for m in sent)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == ["unhandled error"]
    assert _counted(metrics, "/v1/chat/completions", "5xx") == 1


def test_a_bug_after_the_answer_started_is_raised_for_the_server_to_close_the_connection() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("a bug mid-stream")

    with pytest.raises(RuntimeError, match="mid-stream"):
        _exchange(app, _chunks(b"{}"), [(b"content-length", b"2")])


def test_a_client_that_leaves_mid_body_gets_nothing_and_counts_as_no_route(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[bytes] = []
    left: list[Message] = [{"type": "http.request", "body": b"{", "more_body": True}]  # then the disconnect

    sent, metrics = _exchange(_body_app(seen), left, [(b"content-length", b"50")])  # the app reads it
    assert sent == [] and seen == []
    assert _counted(metrics, "other", "5xx") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    sent, metrics = _exchange(_body_app(seen), left, [])  # read here (chunked)
    assert sent == [] and seen == []
    assert _counted(metrics, "other", "5xx") == 1


def test_the_observation_is_this_requests_while_the_app_runs_and_only_then() -> None:
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(OBSERVATION.get())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def run() -> None:
        async def receive() -> Message:
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            return None

        await Edge(app, Metrics(), LIMIT, "off")({"type": "http", "method": "GET", "headers": []}, receive, send)
        seen.append(OBSERVATION.get())

    asyncio.run(run())
    assert seen[0] is not None and seen[1] is None


def test_other_scopes_pass_through() -> None:
    scopes: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope["type"])

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        return None

    asyncio.run(Edge(app, Metrics(), LIMIT, "off")({"type": "lifespan"}, receive, send))
    assert scopes == ["lifespan"]

