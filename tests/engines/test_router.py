"""The router on its own: picking by load and weight, retry before the first byte, taking out and back."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from revshare.config import ModelConfig, parse_catalog
from revshare.config.loading import ConfigError
from revshare.engines.base import (
    Engine,
    EngineError,
    EngineRejected,
    EngineUnavailable,
    GenerationRequest,
    UsageMeter,
)
from revshare.engines.health import EngineHealth, HealthBoard
from revshare.engines.registry import build_engines
from revshare.engines.router import Member, Router
from revshare.metrics import Metrics
from revshare.metrics.series import value_of
from tests.support.catalogs import catalog_dict

MODEL = ModelConfig(id="m", engine="route:m")
REQUEST = GenerationRequest("chat.completions", MODEL, {"messages": [{"role": "user", "content": "hi"}]})


class Scripted(Engine):
    """An engine that fails (with `fail`) or answers 3 tokens; streams may fail after the first chunk."""

    def __init__(self, engine_id: str, fail: EngineError | None = None, fail_mid_stream: bool = False) -> None:
        self.id = engine_id
        self.fail = fail
        self.fail_mid_stream = fail_mid_stream
        self.calls = 0
        self.answer: str | None = None

    async def ready(self) -> str | None:
        return self.answer

    async def complete(self, request: GenerationRequest, meter: UsageMeter) -> dict[str, Any]:
        self.calls += 1
        if self.fail is not None:
            meter.prompt_tokens, meter.cached_reported = 99, True  # counted, then failed: must not be billed
            raise self.fail
        meter.prompt_tokens, meter.completion_tokens, meter.finished = 5, 3, True
        return {"choices": [{"message": {"content": self.id}}]}

    async def stream(self, request: GenerationRequest, meter: UsageMeter) -> AsyncIterator[dict[str, Any]]:
        self.calls += 1
        if self.fail is not None and not self.fail_mid_stream:
            raise self.fail
        meter.prompt_tokens = 5
        yield {"choices": [{"delta": {"content": self.id}}]}
        meter.completion_tokens = 1
        if self.fail is not None:
            raise self.fail
        meter.finished = True

    def count_tokens(self, model: ModelConfig, text: str) -> int:
        return len(text)


def _router(*engines: Scripted, weights: tuple[int, ...] = (), threshold: int = 2,
            metrics: Metrics | None = None) -> Router:
    members = [Member(e, weights[i] if weights else 1, EngineHealth(e.id, threshold, 60.0))
               for i, e in enumerate(engines)]
    return Router("route:m", members, metrics or Metrics(), rng=random.Random(7))


def test_a_failure_before_the_first_byte_is_retried_and_billed_once_on_the_engine_that_served() -> None:
    dead, alive = Scripted("a", EngineUnavailable("down")), Scripted("b")
    metrics = Metrics()
    router = _router(dead, alive, weights=(1000, 1), metrics=metrics)
    meter = UsageMeter()
    for _ in range(5):  # the weight makes `a` the first pick nearly always; random may pick b first
        meter = UsageMeter()
        body = asyncio.run(router.complete(REQUEST, meter))
        assert body["choices"][0]["message"]["content"] == "b"
        assert (meter.engine, meter.prompt_tokens, meter.completion_tokens) == ("b", 5, 3)
        assert not meter.cached_reported  # nothing the failed attempt set survives
    assert dead.calls == 2  # taken out after two failures in a row: no more tries
    assert not router.members[0].health.healthy
    metrics.fold()
    assert value_of(metrics, "revshare_engine_retries_total", {"engine": "a"}) == 2


def test_failing_everywhere_raises_the_last_failure_once() -> None:
    a, b = Scripted("a", EngineUnavailable("a down")), Scripted("b", EngineError("b says 500"))
    metrics = Metrics()
    router = _router(a, b, metrics=metrics)
    meter = UsageMeter()
    with pytest.raises(EngineError) as raised:
        asyncio.run(router.complete(REQUEST, meter))
    assert (a.calls, b.calls) == (1, 1)
    metrics.fold()
    retried = {e: value_of(metrics, "revshare_engine_retries_total", {"engine": e}) for e in "ab"}
    assert sorted(retried.values()) == [0, 1]  # moved off the first; nowhere to go after the second
    assert meter.engine == raised.value.message[0]  # the record names the engine that failed last
    assert meter.prompt_tokens == 99  # what the last attempt counted; its record is not charged


def test_a_rejected_request_is_not_retried() -> None:
    a, b = Scripted("a", EngineRejected("bad request")), Scripted("b", EngineRejected("bad request"))
    router = _router(a, b)
    with pytest.raises(EngineRejected):
        asyncio.run(router.complete(REQUEST, UsageMeter()))
    assert a.calls + b.calls == 1
    assert all(m.health.healthy for m in router.members)


def test_least_outstanding_wins_and_an_idle_route_splits_by_weight() -> None:
    a, b = Scripted("a"), Scripted("b")
    router = _router(a, b, weights=(3, 1))
    router.members[0].health.outstanding = 4  # a: 4/3 per weight; b: 0
    assert router.pick(set()).engine.id == "b"  # type: ignore[union-attr]
    router.members[0].health.outstanding = 0
    picks = [router.pick(set()).engine.id for _ in range(4000)]  # type: ignore[union-attr]
    assert 0.70 < picks.count("a") / len(picks) < 0.80


def test_a_stream_is_retried_before_its_first_chunk_and_not_after() -> None:
    async def drain(router: Router, meter: UsageMeter) -> list[dict[str, Any]]:
        return [chunk async for chunk in router.stream(REQUEST, meter)]

    dead, alive = Scripted("a", EngineUnavailable("down")), Scripted("b")
    meter = UsageMeter()
    router = _router(dead, alive, weights=(1000, 1))
    router.members[1].health.outstanding = 1  # a first
    chunks = asyncio.run(drain(router, meter))
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["b"]
    assert (dead.calls, meter.engine, router.members[1].health.outstanding) == (1, "b", 1)

    broken, spare = Scripted("a", EngineError("cut"), fail_mid_stream=True), Scripted("b")
    router = _router(broken, spare)
    router.members[1].health.outstanding = 1
    with pytest.raises(EngineError):
        asyncio.run(drain(router, UsageMeter()))
    assert (broken.calls, spare.calls) == (1, 0)
    assert router.members[0].health.outstanding == 0


def test_an_engine_out_comes_back_after_the_cooldown_when_a_check_finds_it_answering() -> None:
    now = [0.0]
    a = Scripted("a")
    catalog = parse_catalog(catalog_dict(engines=[
        {"id": "a", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1", "failure_threshold": 1,
         "cooldown_s": 10}]))
    board = HealthBoard({"a": a}, catalog.engines, clock=lambda: now[0])
    health = board.of("a")
    health.failed("down")
    assert not health.healthy
    asyncio.run(board.check("a"))
    assert not health.healthy  # within the cooldown: not even asked
    now[0] = 11.0
    a.answer = "still down"
    asyncio.run(board.check("a"))
    assert not health.healthy  # asked, failed: the cooldown starts again
    now[0] = 22.0
    a.answer = None
    asyncio.run(board.check("a"))
    assert health.healthy and health.failures == 0


def test_every_engine_out_still_tries_them_rather_than_refusing() -> None:
    a = Scripted("a")
    router = _router(a, Scripted("b"), threshold=1)
    for member in router.members:
        member.health.failed("down")
    assert asyncio.run(router.ready()) is not None
    asyncio.run(router.complete(REQUEST, UsageMeter()))
    assert asyncio.run(router.ready()) is None  # the engine that answered is back


def test_the_catalog_names_several_engines_with_weights_and_keeps_one_engine_working() -> None:
    raw = catalog_dict(engines=[{"id": "a", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"},
                                {"id": "b", "kind": "upstream", "base_url": "http://127.0.0.1:10/v1"}])
    raw["models"].append({"id": "solo", "engine": "a"})
    raw["prices"].append({**raw["prices"][0], "model": "solo"})
    raw["models"][0].pop("engine")
    raw["models"][0]["engines"] = ["a", {"id": "b", "weight": 3}]
    catalog = parse_catalog(raw)
    engines = build_engines(catalog)
    route = engines["route:gemma-3-270m"]
    assert isinstance(route, Router)
    assert [(m.engine.id, m.weight) for m in route.members] == [("a", 1), ("b", 3)]
    assert catalog.model("solo").engine == "a"  # type: ignore[union-attr]
    # `b` is reached only through the route (which starts it, and answers /readyz for it).
    assert set(engines) == {"a", "route:gemma-3-270m"}
    # A catalog dumped and read again (as tools do) keeps its routes.
    again = parse_catalog(catalog.model_dump(mode="json", exclude={"source"}))
    assert again.model("gemma-3-270m") == catalog.model("gemma-3-270m")


@pytest.mark.parametrize(("engines", "message"), [
    (["a", "nope"], "engines[1].id: unknown engine 'nope'"),
    (["a", "a"], "named twice"),
    ([], "non-empty list"),
    ([{"id": "a", "weight": 0}], "weight"),
])
def test_a_bad_engines_list_is_refused_naming_the_field(engines: list[Any], message: str) -> None:
    raw = catalog_dict(engines=[{"id": "a", "kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}])
    raw["models"][0].pop("engine")
    raw["models"][0]["engines"] = engines
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_catalog(raw)
