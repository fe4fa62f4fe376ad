"""Rate limits in Redis: the in-process limiter's rules, shared by limiters that never talk to each other."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from revshare.config import Customer, parse_catalog
from revshare.config.scaleout_sections import RateLimitsConfig
from revshare.metering.limits import LimitExceeded
from revshare.metering.limits_redis import RedisLimiter, redis_url
from tests.scaleout.redis_server import fresh_prefix
from tests.scaleout.redis_server import redis_url as shared_redis
from tests.support.servers import free_port, running_gateway
from tests.support.stub_gateway import BODY, stub_catalog_dict, stub_upstream


def _limiters(count: int, **config: object) -> list[RedisLimiter]:
    settings = RateLimitsConfig(key_prefix=fresh_prefix(), **config)  # type: ignore[arg-type]
    return [RedisLimiter(shared_redis(), settings) for _ in range(count)]


async def _close(*limiters: RedisLimiter) -> None:
    for limiter in limiters:
        await limiter.close()


def test_two_limiters_share_one_requests_per_minute() -> None:
    async def run() -> None:
        a, b = _limiters(2)
        limits = Customer(name="c", requests_per_minute=5)
        for i in range(5):
            (await (a if i % 2 else b).take([("customer:c", limits)], 1)).settle(1)
        for limiter in (a, b):
            with pytest.raises(LimitExceeded, match="5 requests per minute") as refused:
                await limiter.take([("customer:c", limits)], 1)
            assert 1 <= refused.value.retry_after <= 60
        await _close(a, b)

    asyncio.run(run())


def test_concurrent_admissions_from_two_limiters_never_pass_the_limit() -> None:
    async def run() -> int:
        a, b = _limiters(2)
        limits = Customer(name="c", requests_per_minute=30)

        async def one(i: int) -> bool:
            try:
                await (a if i % 2 else b).take([("customer:c", limits)], 1)
            except LimitExceeded:
                return False
            return True

        admitted = sum(await asyncio.gather(*(one(i) for i in range(100))))
        await _close(a, b)
        return admitted

    assert asyncio.run(run()) == 30


def test_tokens_are_settled_to_the_actual_count_and_concurrency_is_given_back() -> None:
    async def run() -> None:
        a, b = _limiters(2)
        tpm = Customer(name="c", tokens_per_minute=100)
        first = await a.take([("customer:t", tpm)], 60)
        with pytest.raises(LimitExceeded, match="100 tokens per minute"):
            await b.take([("customer:t", tpm)], 60)
        first.settle(20)  # it used 20: 80 are free again
        await asyncio.sleep(0.1)
        await b.take([("customer:t", tpm)], 60)
        with pytest.raises(LimitExceeded, match="lower max_tokens"):
            await b.take([("customer:t", tpm)], 101)

        one_at_a_time = Customer(name="c", max_concurrent=1)
        ticket = await a.take([("customer:k", one_at_a_time)], 1)
        with pytest.raises(LimitExceeded, match="concurrent"):
            await b.take([("customer:k", one_at_a_time)], 1)
        ticket.settle(1)
        await asyncio.sleep(0.1)
        (await b.take([("customer:k", one_at_a_time)], 1)).settle(1)
        await _close(a, b)

    asyncio.run(run())


def test_a_subject_over_its_limit_takes_nothing_from_the_others() -> None:
    async def run() -> None:
        (a,) = _limiters(1)
        roomy, tight = Customer(name="c", requests_per_minute=10), Customer(name="c", requests_per_minute=1)
        await a.take([("key:k", tight)], 1)
        for _ in range(3):
            with pytest.raises(LimitExceeded, match="key:k"):
                await a.take([("customer:c", roomy), ("key:k", tight)], 1)
        for _ in range(10):  # the customer's window lost nothing to the refusals
            await a.take([("customer:c", roomy)], 1)
        await _close(a)

    asyncio.run(run())


@pytest.mark.parametrize("fail_open", [False, True])
def test_an_unreachable_redis_fails_closed_or_open_as_configured_and_says_so(
        fail_open: bool, caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        limiter = RedisLimiter(f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
                               RateLimitsConfig(fail_open=fail_open, timeout_s=0.5))
        limits = Customer(name="c", requests_per_minute=1)
        for _ in range(3):
            if fail_open:
                (await limiter.take([("customer:c", limits)], 1)).settle(1)
            else:
                with pytest.raises(LimitExceeded, match="cannot be checked") as refused:
                    await limiter.take([("customer:c", limits)], 1)
                assert refused.value.retry_after == 1
        await limiter.close()

    with caplog.at_level(logging.WARNING, logger="revshare"):
        asyncio.run(run())
    said = [r.getMessage() for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    assert len(said) == 1  # once per outage, not once per request
    assert ("without limits" if fail_open else "refused") in said[0]


def test_the_environment_names_the_redis_before_the_catalog() -> None:
    config = RateLimitsConfig(redis_url="redis://catalog:6379/0")
    assert redis_url(config, {}) == "redis://catalog:6379/0"
    assert redis_url(config, {"REVSHARE_REDIS_URL": "redis://env:6379/1"}) == "redis://env:6379/1"
    assert redis_url(RateLimitsConfig(), {}) is None


def test_a_gateway_whose_redis_is_down_refuses_limited_requests_and_serves_unlimited_ones(sqlite_url: str) -> None:
    with stub_upstream() as base:
        raw = stub_catalog_dict(base, requests_per_minute=100)
        raw["rate_limits"] = {"redis_url": f"redis://127.0.0.1:{free_port()}/0", "timeout_s": 0.5}
        with running_gateway(parse_catalog(raw), sqlite_url) as gw:
            def post(customer: str) -> httpx.Response:
                return httpx.post(gw.url + "/v1/chat/completions", json=BODY, timeout=30,
                                  headers={"Authorization": f"Bearer {gw.keys[customer]}"})

            refused = post("demo")
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert "cannot be checked" in refused.json()["error"]["message"]
            assert post("acme").status_code == 200  # no limits: Redis is not asked
            assert gw.ledger.count() == 1
