"""Every HTTP request, observed once: its series and its access-log line (a pure ASGI middleware).

    revshare_http_requests_total{route, status_class, outcome}
    revshare_http_request_duration_seconds{route, status_class}

`route` is the matched route's template (`/v1/log/{log}/checkpoint`), `other` when no route ran
(a path no route matches, or a body refused as too large before routing), so a scan of random
paths adds no series; `/metrics` counts like any route.
`outcome` is the usage record's (ok, client_disconnect, engine_error, rejected), `none` when the
request made no record. The serving core fills the request's `Observation`, which this
middleware puts in `OBSERVATION` before the app runs.

The access log (`server.access_log`, logger `revshare.access`) writes one line per request at
INFO: a JSON object (`json`) or `key=value` pairs (`text`), or nothing (`off`). Its fields: time
(the request's start), method, route, status, duration_ms, record_id, customer, key_id, model,
outcome, prompt_tokens, completion_tokens, ttft_ms. Never a header, a prompt or a completion.

A stream whose client left before the engine stopped is observed when its record is made
(`Observation.on_finish`), so its line and its outcome are those of the record.

Pure ASGI rather than Starlette's BaseHTTPMiddleware, which would buffer through a second task
and hide a client's disconnect from the stream.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revshare.instants import format_instant
from revshare.metrics import Metrics
from revshare.serving.lease import OBSERVATION, Observation

__all__ = ["ACCESS_LOG", "Observe"]

ACCESS_LOG = logging.getLogger("revshare.access")

AccessLog = Literal["text", "json", "off"]

_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder: json.dumps makes one a call with separators
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/{}@+*")


class Observe:
    """Counts and times each HTTP request by route template, status class and outcome, and
    writes its access-log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: AccessLog = "text") -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        # (route, status class, outcome) -> its two series: labels() costs more than a dict hit.
        self._series: dict[tuple[str, int, str], tuple[Any, Any]] = {}
        self._second, self._second_text = -1, ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wall = time.time()
        obs = Observation(time.perf_counter())
        status = 0

        def send_status(message: Message) -> Awaitable[None]:
            # A plain function handing back send's awaitable: no coroutine of its own per chunk.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        token = OBSERVATION.set(obs)
        try:
            await self.app(scope, receive, send_status)
        finally:
            OBSERVATION.reset(token)
            seconds = time.perf_counter() - obs.start
            route = getattr(scope.get("route"), "path", None) or "other"
            exchange = (scope["method"], route, status or 500, seconds, wall)
            if obs.leased:  # a stream whose client left: its record is not made yet
                obs.on_finish = lambda done: self._done(done, *exchange)
            else:
                self._done(obs, *exchange)

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
        if self.access_log != "off" and ACCESS_LOG.isEnabledFor(logging.INFO):
            # handle(makeRecord()) is what info() does, without its walk up the stack for the caller.
            line = self._line(obs, method, route, status, seconds, wall)
            ACCESS_LOG.handle(ACCESS_LOG.makeRecord(ACCESS_LOG.name, logging.INFO, __file__, 0, line, (), None))

    def _line(self, obs: Observation, method: str, route: str, status: int, seconds: float, wall: float) -> str:
        when = self._instant(wall)
        ttft = None if obs.first_chunk is None else round((obs.first_chunk - obs.start) * 1000, 3)
        outcome = obs.outcome or "none"
        if self.access_log == "json":
            return _JSON.encode({
                "time": when, "method": method, "route": route, "status": status,
                "duration_ms": round(seconds * 1000, 3), "record_id": obs.record_id, "customer": obs.customer,
                "key_id": obs.key_id, "model": obs.model, "outcome": outcome, "prompt_tokens": obs.prompt_tokens,
                "completion_tokens": obs.completion_tokens, "ttft_ms": ttft,
            })
        return (f"time={when} method={_text(method)} route={_text(route)} status={status} "
                f"duration_ms={seconds * 1000:.3f} record_id={_text(obs.record_id)} customer={_text(obs.customer)} "
                f"key_id={_text(obs.key_id)} model={_text(obs.model)} outcome={outcome} "
                f"prompt_tokens={_text(obs.prompt_tokens)} completion_tokens={_text(obs.completion_tokens)} "
                f"ttft_ms={_text(ttft)}")

    def _instant(self, wall: float) -> str:
        """The request's start, to the millisecond; the text up to the second is made once a second."""
        second = int(wall)
        if second != self._second:
            self._second = second
            self._second_text = format_instant(datetime.fromtimestamp(second, UTC), "seconds")[:-1]
        return f"{self._second_text}.{int((wall - second) * 1000):03d}Z"


def _text(value: Any) -> str:
    """A value of a `key=value` line: `-` for none, quoted (JSON) unless plainly safe."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value if value and _SAFE.issuperset(value) else json.dumps(value)
    return str(value)
