"""The embedded engine's queue series with the real model: how long requests waited for the
model's one worker thread, and how many wait for or hold it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from revshare.engines.base import GenerationRequest, UsageMeter
from revshare.engines.embedded import EmbeddedEngine
from revshare.metrics import Metrics
from revshare.metrics.series import value_of
from tests.support.catalogs import make_catalog

pytestmark = pytest.mark.engine

DEADLINE_S = 60.0


def depth(metrics: Metrics) -> Any:
    return value_of(metrics, "revshare_engine_queue_depth", {"engine": "local"})


def waits(metrics: Metrics) -> Any:
    return value_of(metrics, "revshare_engine_queue_wait_seconds_count", {"engine": "local"})


class Gate:
    """Holds the model inside llama.cpp's generation until opened: a request that certainly holds it."""

    def __init__(self, engine: EmbeddedEngine) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        llm = engine._llm
        generate = llm.generate

        def gated(*args: Any, **kwargs: Any) -> Iterator[int]:
            self.entered.set()
            self.opened.wait(DEADLINE_S)
            yield from generate(*args, **kwargs)

        llm.generate = gated


async def test_two_concurrent_requests_queue_for_the_model_and_leave_the_queue_empty(model_path: str) -> None:
    catalog = make_catalog(engines=[{"id": "local", "kind": "embedded", "n_ctx": 2048, "model_path": model_path}])
    metrics = Metrics()
    engine = EmbeddedEngine(catalog.engines[0], list(catalog.models), metrics)
    assert await engine.ready() == "the model is not loaded"
    await engine.start()
    try:
        assert await engine.ready() is None
        assert depth(metrics) == 0 and waits(metrics) in (None, 0)
        gate = Gate(engine)
        request = GenerationRequest("chat.completions", catalog.models[0],
                                    {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4})
        first = asyncio.create_task(engine.complete(request, UsageMeter()))
        assert await asyncio.to_thread(gate.entered.wait, DEADLINE_S), "the first request never reached the model"
        second = asyncio.create_task(engine.complete(request, UsageMeter()))
        deadline = time.monotonic() + DEADLINE_S
        while depth(metrics) != 2:  # the first holds the model, the second waits for it
            assert time.monotonic() < deadline, f"queue depth stayed {depth(metrics)}"
            await asyncio.sleep(0.01)
        assert waits(metrics) == 1  # only the first has started
        gate.opened.set()
        answers = await asyncio.gather(first, second)
        assert all(a["usage"]["completion_tokens"] > 0 for a in answers)
        assert waits(metrics) == 2
        assert value_of(metrics, "revshare_engine_queue_wait_seconds_sum", {"engine": "local"}) > 0
        assert depth(metrics) == 0
        # a stream holds the model until its worker job returns (just after the last chunk), then leaves
        chunks = [c async for c in engine.stream(request, UsageMeter())]
        assert chunks and waits(metrics) == 3
        deadline = time.monotonic() + DEADLINE_S
        while depth(metrics) != 0:
            assert time.monotonic() < deadline, f"queue depth stayed {depth(metrics)}"
            await asyncio.sleep(0.01)
    finally:
        await engine.close()
