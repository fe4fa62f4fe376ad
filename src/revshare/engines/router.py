"""A model served by several engines: one `Engine` that balances, fails over and retries across them.

The API and metering see one engine per model (`route:<model id>`); the router picks, for each
request, the healthy engine with the fewest requests outstanding per unit of weight (ties broken
at random by weight, so an idle route splits traffic by weight), and sets `meter.engine` to the
engine that runs it, which the record names.

A request that fails before its first byte (a refused connection, a timeout, an HTTP 5xx or 429:
`EngineError` but not `EngineRejected`, the client's own mistake) is tried again on another
engine, each engine at most once, with a fresh meter: it stays one request, one record, billed
once. Failing on every engine, the last failure is raised and recorded (`engine_error`). A
stream that fails after its first chunk is not retried: the client already has part of one
completion, and another engine would produce a different one (sampling), so the stream ends
with an error event and is billed for what it delivered (docs/RELIABILITY.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from revshare.config import ModelConfig
from revshare.engines.base import (
    Engine,
    EngineError,
    EngineRejected,
    EngineUnavailable,
    GenerationRequest,
    UsageMeter,
)
from revshare.engines.health import EngineHealth, HealthBoard
from revshare.metrics import Metrics

__all__ = ["Member", "Router"]


@dataclass(frozen=True, slots=True)
class Member:
    """One engine of a route, its weight and its (shared) health."""

    engine: Engine
    weight: int
    health: EngineHealth


_BLANK = UsageMeter()


def _fresh(meter: UsageMeter, engine_id: str) -> None:
    """Forget what a failed attempt counted (every field, whatever the meter holds): only the
    attempt that serves is billed."""
    for f in dataclasses.fields(UsageMeter):
        setattr(meter, f.name, getattr(_BLANK, f.name))
    meter.engine = engine_id


class Router(Engine):
    """Routes one model's requests across several engines (which the registry starts and closes)."""

    def __init__(self, route_id: str, members: list[Member], metrics: Metrics | None = None,
                 rng: random.Random | None = None, board: HealthBoard | None = None) -> None:
        if not members:
            raise ValueError(f"route {route_id!r} has no engines")
        self.id = route_id
        self.members = members
        self._metrics = metrics if metrics is not None else Metrics()
        self._rng = rng if rng is not None else random.Random()
        self._board = board
        for member in members:
            self._metrics.engine_retries.labels(member.engine.id)

    async def start(self) -> None:
        if self._board is not None:
            await self._board.start()  # once for every route sharing it

    async def close(self) -> None:
        if self._board is not None:
            await self._board.close()

    def pick(self, tried: set[str]) -> Member | None:
        """The engine for the next attempt: healthy and untried, least loaded per weight; when every
        engine is out and none was tried yet, the least loaded of them all (the health may be stale)."""
        left = [m for m in self.members if m.engine.id not in tried]
        healthy = [m for m in left if m.health.healthy]
        candidates = healthy or (left if not tried else [])
        if not candidates:
            return None
        least = min(m.health.outstanding / m.weight for m in candidates)
        tied = [m for m in candidates if m.health.outstanding / m.weight == least]
        if len(tied) == 1:
            return tied[0]
        return self._rng.choices(tied, weights=[m.weight for m in tied])[0]

    async def ready(self) -> str | None:
        if any(m.health.healthy for m in self.members):
            return None
        return f"every engine of {self.id!r} is out ({', '.join(m.engine.id for m in self.members)})"

    def count_tokens(self, model: ModelConfig, text: str) -> int:
        return self.members[0].engine.count_tokens(model, text)

    def _next(self, tried: set[str], failed_on: Member | None) -> Member | None:
        """The next engine to try; a request moving off a failed engine counts as its retry."""
        member = self.pick(tried)
        if member is not None and failed_on is not None:
            self._metrics.engine_retries.labels(failed_on.engine.id).inc()
        return member

    async def complete(self, request: GenerationRequest, meter: UsageMeter) -> dict[str, Any]:
        tried: set[str] = set()
        last: EngineError | None = None
        failed_on: Member | None = None
        while (member := self._next(tried, failed_on)) is not None:
            tried.add(member.engine.id)
            _fresh(meter, member.engine.id)
            member.health.outstanding += 1
            try:
                data = await member.engine.complete(request, meter)
            except EngineRejected:
                member.health.succeeded()  # it answered: the request was wrong, not the engine
                raise
            except EngineError as exc:
                member.health.failed(exc.message)
                last, failed_on = exc, member
                continue
            finally:
                member.health.outstanding -= 1
            member.health.succeeded()
            return data
        raise last or EngineUnavailable(f"no engine of {self.id!r} can take the request")

    async def stream(self, request: GenerationRequest, meter: UsageMeter) -> AsyncIterator[dict[str, Any]]:
        tried: set[str] = set()
        last: EngineError | None = None
        failed_on: Member | None = None
        while (member := self._next(tried, failed_on)) is not None:
            tried.add(member.engine.id)
            _fresh(meter, member.engine.id)
            member.health.outstanding += 1
            chunks = member.engine.stream(request, meter).__aiter__()
            first: dict[str, Any] | None
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration:
                first = None
            except EngineRejected:
                member.health.outstanding -= 1
                member.health.succeeded()
                raise
            except EngineError as exc:
                member.health.outstanding -= 1
                member.health.failed(exc.message)
                last, failed_on = exc, member
                continue
            except BaseException:
                member.health.outstanding -= 1
                raise
            member.health.succeeded()
            try:
                if first is not None:
                    yield first
                    async for chunk in chunks:
                        yield chunk
            except EngineError as exc:
                member.health.failed(exc.message)  # after the first byte: not retried
                raise
            finally:
                member.health.outstanding -= 1
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            return
        raise last or EngineUnavailable(f"no engine of {self.id!r} can take the request")
