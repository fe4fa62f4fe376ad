"""The edge layer's contract with the serving core, on the one path a gateway rarely takes: the
HTTP exchange ends before the request's record is made (a stream left suspended when its client
went away, closed later). Its line and its count then wait for the record, and carry its outcome."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.types import Message, Receive, Scope, Send

from revshare.api import access_log
from revshare.api.edge import Edge
from revshare.engines.base import UsageMeter
from revshare.metering.admission import Ask, admit
from revshare.metering.bound import Bound
from revshare.metering.meter import Admitted
from revshare.metrics import Metrics
from revshare.metrics.series import value_of
from revshare.records.record import Outcome
from revshare.serving.gateway import ModelSeries
from revshare.serving.lease import OBSERVATION, Lease
from tests.support.stub_gateway import MODEL, stub_catalog


def test_a_record_made_after_the_exchange_is_logged_and_counted_once_with_its_outcome(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="revshare.access")
    catalog = stub_catalog("http://127.0.0.1:9/v1")
    metrics = Metrics()
    leases: list[Lease] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # What the serving core does for a stream: a lease on this request's observation...
        obs = OBSERVATION.get()
        assert obs is not None
        admitted = admit(catalog, {"stub"}, Ask("demo", "key_abc", MODEL, "chat.completions", True))
        assert isinstance(admitted, Admitted)
        obs.customer, obs.key_id, obs.model, obs.leased = "demo", "key_abc", MODEL, True
        series = ModelSeries(metrics.request_duration.labels(MODEL), metrics.time_to_first_token.labels(MODEL),
                             metrics.time_per_output_token.labels(MODEL))
        leases.append(Lease(admitted, Bound(1, 1, 1), None, (), False, obs, series))
        # ...then its first bytes, and the exchange ends with the lease still open.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True})

    async def exchange() -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            return None

        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
        await Edge(app, metrics, 1 << 20, "json")(scope, receive, send)

    asyncio.run(exchange())
    access_log.flush()
    counted = {"route": "other", "status_class": "2xx", "outcome": "client_disconnect"}
    assert [r for r in caplog.records if r.name == "revshare.access"] == []
    assert value_of(metrics, "revshare_http_requests_total", counted) is None

    meter = UsageMeter()
    meter.prompt_tokens, meter.completion_tokens = 4, 2
    leases[0].finish(meter, Outcome.CLIENT_DISCONNECT)  # the generator's `finally`, later
    access_log.flush()

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "revshare.access"]
    assert len(lines) == 1
    assert (lines[0]["status"], lines[0]["outcome"], lines[0]["prompt_tokens"], lines[0]["completion_tokens"],
            lines[0]["customer"]) == (200, "client_disconnect", 4, 2, "demo")
    assert value_of(metrics, "revshare_http_requests_total", counted) == 1
    assert value_of(metrics, "gen_ai_server_request_duration_seconds_count", {"model": MODEL}) == 1
