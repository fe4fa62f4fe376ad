"""Rate limits (requests, tokens, concurrency) and idempotency keys, through a real gateway."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from revshare.config import Customer
from revshare.ledger.idempotency import lookup
from revshare.metering.limits import LimitExceeded, RateLimiter
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import BODY, stub_catalog, stub_upstream

CHAT = "/v1/chat/completions"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_slide_and_say_when_to_retry() -> None:
    clock = Clock()
    limiter, limits = RateLimiter(clock), Customer(name="c", requests_per_minute=2)
    for _ in range(2):
        limiter.acquire([("c", limits)], 1).settle(1)
        clock.now += 10
    with pytest.raises(LimitExceeded) as exc:
        limiter.acquire([("c", limits)], 1)
    assert exc.value.retry_after == 40  # the first request leaves the window 60 s after it came
    clock.now += 40
    limiter.acquire([("c", limits)], 1)


def test_tokens_are_reserved_at_admission_and_settled_to_the_actual_count() -> None:
    clock = Clock()
    limiter, limits = RateLimiter(clock), Customer(name="c", tokens_per_minute=100)
    first = limiter.acquire([("c", limits)], 60)
    with pytest.raises(LimitExceeded):  # 60 reserved + 60 > 100, though nothing ran yet
        limiter.acquire([("c", limits)], 60)
    first.settle(20)  # it used 20: 80 are free again
    limiter.acquire([("c", limits)], 60)
    with pytest.raises(LimitExceeded, match="lower max_tokens"):
        limiter.acquire([("c", limits)], 101)


def test_concurrency_is_released_when_a_request_ends() -> None:
    limiter, limits = RateLimiter(Clock()), Customer(name="c", max_concurrent=1)
    ticket = limiter.acquire([("c", limits)], 1)
    with pytest.raises(LimitExceeded):
        limiter.acquire([("c", limits)], 1)
    ticket.settle(1)
    limiter.acquire([("c", limits)], 1)


def test_a_refusal_by_one_subject_takes_nothing_from_the_others() -> None:
    limiter = RateLimiter(Clock())
    roomy, tight = Customer(name="c", requests_per_minute=10), Customer(name="k", requests_per_minute=1)
    limiter.acquire([("k", tight)], 1)
    for _ in range(3):
        with pytest.raises(LimitExceeded):
            limiter.acquire([("c", roomy), ("k", tight)], 1)
    for _ in range(10):
        limiter.acquire([("c", roomy)], 1)


def post(gw: Running, body: dict[str, object] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    h = {"Authorization": f"Bearer {gw.keys['demo']}", **(headers or {})}
    return httpx.post(gw.url + CHAT, json=body or BODY, headers=h, timeout=30)


def test_over_the_request_rate_is_429_with_retry_after(tmp_path: object, sqlite_url: str) -> None:
    with stub_upstream() as base, running_gateway(stub_catalog(base, requests_per_minute=3), sqlite_url) as gw:
        assert [post(gw).status_code for _ in range(3)] == [200, 200, 200]
        r = post(gw)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        assert gw.ledger.count() == 3  # the refused request never reached the engine


def test_tokens_per_minute_hold_under_concurrency(sqlite_url: str) -> None:
    # Each request may use 26 prompt + 7 completion = 33 tokens: only 3 fit in 100 at once.
    with stub_upstream(delay_s=0.01) as base, \
            running_gateway(stub_catalog(base, tokens_per_minute=100), sqlite_url) as gw:
        async def fire() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as c:
                rs = await asyncio.gather(*(c.post(gw.url + CHAT, json=BODY,
                                                   headers={"Authorization": f"Bearer {gw.keys['demo']}"})
                                            for _ in range(50)))
                return [r.status_code for r in rs]

        statuses = asyncio.run(fire())
        assert statuses.count(200) == 3 and statuses.count(429) == 47
        assert sum(r.total_tokens for r in gw.ledger.records(customer="demo")) <= 100


@pytest.fixture
def slow_gw(sqlite_url: str) -> Iterator[Running]:
    with stub_upstream(delay_s=0.05) as base, running_gateway(stub_catalog(base), sqlite_url) as gw:
        yield gw


def test_idempotency_key_serves_and_bills_once_and_replays(slow_gw: Running) -> None:
    gw = slow_gw
    h = {"Idempotency-Key": "order-1"}
    first = post(gw, headers=h)
    assert first.status_code == 200
    again = post(gw, headers=h)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(gw.ledger.records(customer="demo")) == 1
    other = post(gw, {**BODY, "max_tokens": 3}, headers=h)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    # scoped per customer: acme may use the same key for its own request
    r = httpx.post(gw.url + CHAT, json=BODY, headers={**h, "Authorization": f"Bearer {gw.keys['acme']}"},
                   timeout=30)
    assert r.status_code == 200 and r.json()["id"] != first.json()["id"]
    assert len(gw.ledger.records()) == 2


def test_idempotency_key_is_409_while_the_first_runs(slow_gw: Running) -> None:
    gw = slow_gw
    h = {"Idempotency-Key": "order-2"}
    results: list[httpx.Response] = []
    t = threading.Thread(target=lambda: results.append(post(gw, headers=h)))
    t.start()
    deadline = time.monotonic() + 10
    while lookup(gw.ledger, "demo", "order-2") is None and time.monotonic() < deadline:
        time.sleep(0.005)
    r = post(gw, headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_in_use"
    t.join()
    assert results[0].status_code == 200
    assert len(gw.ledger.records(customer="demo")) == 1


def test_idempotent_stream_is_replayed_with_its_record(slow_gw: Running) -> None:
    gw = slow_gw
    h = {"Idempotency-Key": "stream-1"}
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    first, again = post(gw, body, headers=h), post(gw, body, headers=h)
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    def events(text: str) -> list[str]:
        return [e for e in text.split("\n\n") if '"usage"' not in e]

    assert events(first.text) == events(again.text)
    assert '"usage"' in again.text
    assert again.text.endswith("data: [DONE]\n\n")
    assert len(gw.ledger.records(customer="demo")) == 1
