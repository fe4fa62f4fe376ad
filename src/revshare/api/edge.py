"""What happens to every HTTP request at the edge, in one pure ASGI layer (`Edge`):

    1. the body's size      at most `server.max_body_bytes`; more is a 413 before any parsing,
                            and the app never runs
    2. its observation      its series and its access-log line
    3. the last answer      a bug of ours ends as a logged 500, on a connection kept alive

The series:

    revshare_http_requests_total{route, status_class, outcome}
    revshare_http_request_duration_seconds{route, status_class}

`route` is the matched route's template (`/v1/log/{log}/checkpoint`), `other` when no route ran
(a path no route matches, a body refused as too large, a client that left before its body
arrived), so a scan of random paths adds no series; `/metrics` counts like any route. `outcome`
is the usage record's (ok, client_disconnect, engine_error, rejected), `none` when the request
made no record. The serving core fills the request's `Observation`, which `Edge` puts in
`OBSERVATION` before the app runs. A stream whose client left before the engine stopped is
observed when its record is made (`Observation.on_finish`), so its line and its outcome are
those of the record. The access log's line (`server.access_log`, api/access_log.py) is queued
here and written by a thread of its own.

The body's size: a body that declares its `Content-Length` is refused at once when that is over
the limit, and otherwise reaches the app untouched (the HTTP server reads exactly that many
bytes, never more). Only a body without one (chunked) is read here first, up to the limit, and
handed to the app as one message.

The last answer: Starlette's own catch-all (`ServerErrorMiddleware`) re-raises once it has
answered, and uvicorn then resets the keep-alive connection, so a client's next pooled request
fails. Here the exception ends with its answer. A response already started (a stream) cannot be
turned into an error: that one is re-raised, and closing the connection is how the client
learns of it.

One layer, not three: each ASGI layer costs a coroutine a request and closures around `receive`
and `send`. Here a request costs one closure (around `send`, for the status), one `Observation`
and, only for a chunked body, one around `receive` (docs/BENCHMARKS.md, "What the metrics
cost"). Pure ASGI rather than Starlette's BaseHTTPMiddleware, which would buffer through a
second task and hide a client's disconnect from the stream.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revshare.api.access_log import AccessEntry, AccessStyle, submit
from revshare.api.errors import error_body, internal_error
from revshare.metrics import Metrics
from revshare.metrics.tally import CounterCell, HistogramCell
from revshare.serving.lease import OBSERVATION, Observation

__all__ = ["Edge", "replay_body"]

log = logging.getLogger("revshare.api")

_WITH_BODY = ("POST", "PUT", "PATCH")
_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


class Edge:
    """Bounds each HTTP request's body, counts and times the request by route template, status
    class and outcome, writes its access-log line, and answers a bug's exception with a 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int, access_log: AccessStyle = "text") -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        # (route, status // 100, outcome) -> its two series: labels() costs more than a dict hit.
        self._series: dict[tuple[str, int, str], tuple[CounterCell, HistogramCell]] = {}
        self._too_large_body = json.dumps(error_body(
            413, f"the request body is larger than the limit of {max_body_bytes} bytes", "request_too_large")).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wall = time.time()
        obs = Observation(time.perf_counter())
        status = 0  # the response's, once started
        arrived = True  # false for a client that left before its body arrived

        def send_status(message: Message) -> Awaitable[None]:
            # A plain function handing back send's awaitable: no coroutine of its own per chunk.
            nonlocal status
            if not status and message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        token = OBSERVATION.set(obs)
        try:
            if scope["method"] in _WITH_BODY:
                declared = _declared_length(scope["headers"])
                if declared is None:  # chunked: read here, at most the limit
                    body = await self._read_body(receive)
                    if body is None:
                        arrived = False
                        return
                    if len(body) > self.max_body_bytes:
                        await self._too_large(send_status)
                        return
                    receive = replay_body(body, receive)
                elif declared > self.max_body_bytes:
                    await self._too_large(send_status)
                    return
            try:
                await self.app(scope, receive, send_status)
            except ClientDisconnect:
                # The client left while the app read its body: as when this layer reads it, no
                # route is counted and nothing is answered.
                if status:
                    raise
                arrived = False
            except Exception as exc:
                if status:
                    raise
                log.error("unhandled error", exc_info=exc)
                await internal_error()(scope, receive, send_status)
        finally:
            OBSERVATION.reset(token)
            seconds = time.perf_counter() - obs.start
            route = getattr(scope.get("route"), "path", None) if arrived else None
            if obs.leased:  # a stream whose client left: its record is not made yet
                exchange = (scope["method"], route or "other", status or 500, seconds, wall)
                obs.on_finish = lambda done: self._done(done, *exchange)
            else:
                self._done(obs, scope["method"], route or "other", status or 500, seconds, wall)

    def _done(self, obs: Observation, method: str, route: str, status: int, seconds: float, wall: float) -> None:
        outcome = obs.outcome or "none"
        key = (route, status // 100, outcome)
        series = self._series.get(key)
        if series is None:
            status_class = _STATUS_CLASS.get(status // 100, "5xx")
            series = self._series[key] = (
                self.metrics.http_requests.labels(route, status_class, outcome),
                self.metrics.http_duration.labels(route, status_class))
        series[0].inc()
        series[1].observe(seconds)
        if self.access_log != "off":
            first = obs.first_chunk
            submit(self.access_log, AccessEntry(
                wall, method, route, status, seconds, obs.record_id, obs.customer, obs.key_id, obs.model, outcome,
                obs.prompt_tokens, obs.completion_tokens, None if first is None else first - obs.start))

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or what came of it once past the limit; None when the client left first."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes or not message.get("more_body", False):
                return bytes(body)

    async def _too_large(self, send: Send) -> None:
        payload = self._too_large_body
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body's declared `Content-Length`; None when it has none (chunked), or one that does
    not bind it (not one number, or beside a `Transfer-Encoding`, which would then frame it)."""
    declared = None
    for name, value in headers:
        if name == b"content-length":
            if declared is not None:  # twice: the bytes that come are what counts
                return None
            try:
                declared = int(value)
            except ValueError:
                return None
        elif name == b"transfer-encoding":
            return None
    return declared if declared is not None and declared >= 0 else None


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body read already, then the client's own messages
    (later calls watch for the client going away)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
