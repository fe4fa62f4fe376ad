"""Issue 17, abandoned requests: a client that leaves before its answer stops the engine.

A non-streaming request (or a stream still waiting for its first chunk) whose client disconnects
is cancelled: the upstream's HTTP request is closed, the embedded engine stops at its next token,
and the request leaves exactly one record, `client_disconnect`, with the tokens produced so far.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from revshare.metering.reservation import to_units
from revshare.records.record import Outcome
from tests.support.servers import Running, ServerThread, running_gateway
from tests.support.stub_gateway import BODY, budget_row, stub_catalog, stub_upstream

SLOW_S = 30.0  # what the slow upstream would take: far longer than any of these tests


class SlowUpstream:
    """An OpenAI-compatible upstream that answers after `SLOW_S`, and notes when its client leaves."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.completed = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        self.started.set()
        waiting = asyncio.ensure_future(receive())
        done, _ = await asyncio.wait({waiting}, timeout=SLOW_S)
        if done and waiting.result()["type"] == "http.disconnect":
            self.cancelled.set()
            return
        waiting.cancel()
        self.completed.set()
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"too slow"})


@pytest.fixture
def slow() -> Iterator[tuple[SlowUpstream, str]]:
    upstream = SlowUpstream()
    with ServerThread(upstream) as server:
        yield upstream, server.url + "/v1"


def _abandon(gw: Running, body: dict[str, Any], upstream: SlowUpstream) -> None:
    """Send `body` and leave (a client timeout) once the upstream has it."""
    headers = {"Authorization": f"Bearer {gw.keys['demo']}"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=httpx.Timeout(10, read=1.0))
    assert upstream.started.is_set(), "the request reached the upstream"


def _only_record(gw: Running) -> Any:
    deadline = time.monotonic() + 10
    while not (rows := gw.ledger.records(customer="demo")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a second record, were there one, would be written by now
    rows = gw.ledger.records(customer="demo")
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream-before-first-chunk"])
def test_a_client_that_leaves_cancels_the_upstream_and_is_recorded_once(
        slow: tuple[SlowUpstream, str], sqlite_url: str, stream: bool) -> None:
    upstream, base = slow
    with running_gateway(stub_catalog(base, budget="10"), sqlite_url) as gw:
        left = time.monotonic()
        _abandon(gw, {**BODY, "stream": stream}, upstream)
        assert upstream.cancelled.wait(5), "the upstream call must be cancelled when the client leaves"
        assert time.monotonic() - left < 5 and not upstream.completed.is_set()
        record = _only_record(gw)
        assert record.outcome is Outcome.CLIENT_DISCONNECT
        assert record.completion_tokens == 0  # the upstream produced nothing the gateway saw
        assert record.stream is stream
        # Charged what was metered (a stream: its prompt, counted before the upstream was asked), and
        # nothing left reserved.
        assert budget_row(sqlite_url) == (to_units(record.amount), 0)


def test_a_request_that_ends_in_time_is_not_disturbed(sqlite_url: str) -> None:
    """The disconnect watch starts only after `WATCH_AFTER_S`: requests on both sides of it end `ok`."""
    with stub_upstream(tokens=4, delay_s=0.03) as base, running_gateway(stub_catalog(base), sqlite_url) as gw:
        headers = {"Authorization": f"Bearer {gw.keys['demo']}"}
        for max_tokens in (1, 4):  # 30 ms and 120 ms upstreams: before and after the watch starts
            r = httpx.post(gw.url + "/v1/chat/completions", json={**BODY, "max_tokens": max_tokens},
                           headers=headers, timeout=30)
            assert r.status_code == 200, r.text
            assert gw.record(r.headers["x-revshare-record-id"]).outcome is Outcome.OK


@pytest.mark.engine
def test_the_embedded_engine_stops_when_the_client_leaves(embedded_gateway: Running) -> None:
    gw = embedded_gateway
    headers = {"Authorization": f"Bearer {gw.keys['acme']}"}
    # End-of-text and end-of-turn forbidden: the model would generate all 1,500 tokens.
    body = {"model": "gemma-3-270m", "messages": [{"role": "user", "content": "Count from 1 to 5000."}],
            "max_tokens": 1500, "logit_bias": {"1": -100, "106": -100}}
    # The client must leave after the first tokens: on a loaded machine reading the prompt alone can
    # take longer than a fixed wait, so the wait is scaled by a two-token call of the same prompt.
    began = time.monotonic()
    warm = httpx.post(gw.url + "/v1/chat/completions", json={**body, "max_tokens": 2}, headers=headers, timeout=60)
    assert warm.status_code == 200, warm.text
    patience = 1.5 + 2 * (time.monotonic() - began)
    before = {r.id for r in gw.ledger.records(customer="acme", limit=10_000)}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers,
                   timeout=httpx.Timeout(10, read=patience))
    left = time.monotonic()
    # The model's one worker is free again: a short request is not queued behind the 1,500 tokens
    # (minutes of work on a CI machine; a 2-token answer takes a second or two there).
    short = httpx.post(gw.url + "/v1/chat/completions", headers=headers, timeout=60,
                       json={"model": "gemma-3-270m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
    assert short.status_code == 200, short.text
    assert time.monotonic() - left < 20, "the abandoned request kept the model busy"
    new = [r for r in gw.ledger.records(customer="acme", limit=10_000) if r.id not in before]
    abandoned = [r for r in new if r.outcome is Outcome.CLIENT_DISCONNECT]
    assert len(abandoned) == 1 and len(new) == 2, new
    assert 0 < abandoned[0].completion_tokens < 1500
    assert abandoned[0].amount > 0  # charged for what was produced, as a stream is
