"""Every HTTP request, observed once: its series and its access-log line (a pure ASGI middleware).

    revshare_http_requests_total{route, status_class, outcome}
    revshare_http_request_duration_seconds{route, status_class}

`route` is the matched route's template (`/v1/log/{log}/checkpoint`), `other` when no route ran
(a path no route matches, or a body refused as too large before routing), so a scan of random
paths adds no series; `/metrics` counts like any route.
`outcome` is the usage record's (ok, client_disconnect, engine_error, rejected), `none` when the
request made no record. The serving core fills the request's `Observation`, which this
middleware puts in `OBSERVATION` before the app runs.

The access log's line (`server.access_log`, api/access_log.py) is queued here and written by a
thread of its own.

A stream whose client left before the engine stopped is observed when its record is made
(`Observation.on_finish`), so its line and its outcome are those of the record.

Pure ASGI rather than Starlette's BaseHTTPMiddleware, which would buffer through a second task
and hide a client's disconnect from the stream.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revshare.api.access_log import AccessEntry, AccessStyle, submit
from revshare.metrics import Metrics
from revshare.metrics.tally import CounterCell, HistogramCell
from revshare.serving.lease import OBSERVATION, Observation

__all__ = ["Observe"]

_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


class Observe:
    """Counts and times each HTTP request by route template, status class and outcome, and
    writes its access-log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: AccessStyle = "text") -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        # (route, status class, outcome) -> its two series: labels() costs more than a dict hit.
        self._series: dict[tuple[str, int, str], tuple[CounterCell, HistogramCell]] = {}

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
        if self.access_log != "off":
            first = obs.first_chunk
            submit(self.access_log, AccessEntry(
                wall, method, route, status, seconds, obs.record_id, obs.customer, obs.key_id, obs.model, outcome,
                obs.prompt_tokens, obs.completion_tokens, None if first is None else first - obs.start))
