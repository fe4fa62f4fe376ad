"""Whether each routed engine takes requests: failures in a row, out for a cooldown, back when it answers.

    board = HealthBoard(engines, configs, metrics)   # one per gateway, shared by its routers
    await board.start()                               # a background check per engine
    board.of("gpu0").healthy

An engine is taken out after `failure_threshold` failures in a row (requests that failed on it,
and background checks of its `ready()` that did); a success puts the count back to zero. Out, it
gets no requests (unless every engine of a route is out) until `cooldown_s` has passed and a
check finds it answering again. Checks run every `health_interval_s`, off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from revshare.config import EngineConfig
from revshare.engines.base import Engine
from revshare.metrics import Metrics

__all__ = ["EngineHealth", "HealthBoard"]

log = logging.getLogger("revshare")


@dataclass(slots=True)
class EngineHealth:
    """One engine's standing: failures in a row, since when it is out (None: in), requests running."""

    engine_id: str
    failure_threshold: int
    cooldown_s: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    out_since: float | None = None
    outstanding: int = 0

    @property
    def healthy(self) -> bool:
        return self.out_since is None

    def succeeded(self) -> None:
        """It answered: the count starts again, and an engine that was out is back."""
        self.failures = 0
        if self.out_since is not None:
            self.out_since = None
            log.warning("routing: engine %r answers again; back in", self.engine_id)

    def failed(self, reason: str) -> None:
        """It failed (a request or a check); out once `failure_threshold` failures are in a row."""
        self.failures += 1
        if self.out_since is None and self.failures >= self.failure_threshold:
            self.out_since = self.clock()
            log.warning("routing: engine %r taken out after %d failures in a row (%s); checked again in %.0f s",
                        self.engine_id, self.failures, reason, self.cooldown_s)
        elif self.out_since is not None:
            self.out_since = self.clock()  # still failing: the cooldown starts again

    def cooled_down(self) -> bool:
        return self.out_since is not None and self.clock() - self.out_since >= self.cooldown_s


class HealthBoard:
    """The health of every engine a router uses, and the background checks that keep it."""

    def __init__(self, engines: dict[str, Engine], configs: Iterable[EngineConfig], metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.monotonic, owned: Iterable[Engine] = ()) -> None:
        """`owned`: the engines this board starts and closes (those reached only through routes)."""
        self._engines = engines
        self._owned = list(owned)
        self._started: list[Engine] = []
        self._intervals: dict[str, float] = {}
        self._health: dict[str, EngineHealth] = {}
        for config in configs:
            self._health[config.id] = EngineHealth(config.id, config.failure_threshold, config.cooldown_s, clock)
            self._intervals[config.id] = config.health_interval_s
        self._tasks: list[asyncio.Task[None]] = []
        if metrics is not None:
            metrics.observe_state("revshare_engine_healthy", self._gauge)

    def of(self, engine_id: str) -> EngineHealth:
        return self._health[engine_id]

    def engine(self, engine_id: str) -> Engine:
        return self._engines[engine_id]

    def _gauge(self) -> Iterable[tuple[tuple[str, ...], float]]:
        return [((h.engine_id,), 1.0 if h.healthy else 0.0) for h in self._health.values()]

    async def start(self) -> None:
        """Start the checks (a second call, from another route sharing the board, does nothing)."""
        if self._tasks:
            return
        for engine in self._owned:
            await engine.start()
            self._started.append(engine)
        for engine_id, interval in self._intervals.items():
            self._tasks.append(asyncio.create_task(self._watch(engine_id, interval),
                                                   name=f"revshare-health-{engine_id}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        while self._started:
            await self._started.pop().close()

    async def check(self, engine_id: str) -> None:
        """One check: ask the engine whether it can take requests, and count the answer."""
        health = self._health[engine_id]
        if not health.healthy and not health.cooled_down():
            return
        try:
            reason = await asyncio.wait_for(self._engines[engine_id].ready(), timeout=5.0)
        except Exception as exc:  # a check must never stop the checking
            reason = f"the check failed ({type(exc).__name__})"
        if reason is None:
            health.succeeded()
        else:
            health.failed(reason)

    async def _watch(self, engine_id: str, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.check(engine_id)
