"""Rate limits held in this process: requests and tokens per minute, concurrent requests.

The default limiter; with several gateway replicas each holds its own, so a customer gets its
limit once per replica. `limits_redis.RedisLimiter` shares them through Redis instead; both are
a `Limiter` (`await take(subjects, tokens)` -> a `Ticket` to settle once).

A sliding window of the last 60 s per subject (a customer or a key). Tokens count at admission
as the request's most (prompt bound + max_tokens) and are settled to the actual count when it
ends, so concurrent requests can never push a minute past its limit together. Admission checks
every subject first and then takes from all of them, with no await between: on one event loop
that is atomic.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from revshare.config import Limits

__all__ = ["LimitExceeded", "Limiter", "MemoryTicket", "RateLimiter", "Ticket"]

WINDOW_S = 60.0


class LimitExceeded(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(slots=True)
class _Entry:
    at: float
    tokens: int
    live: bool = True


@dataclass(slots=True)
class _Window:
    entries: deque[_Entry] = field(default_factory=deque)
    tokens: int = 0
    inflight: int = 0

    def expire(self, now: float) -> None:
        while self.entries and self.entries[0].at <= now - WINDOW_S:
            entry = self.entries.popleft()
            entry.live = False
            self.tokens -= entry.tokens


class Ticket(Protocol):
    """What one admitted request holds; `settle` once, when it ends, with the tokens it used."""

    def settle(self, actual_tokens: int) -> None: ...


class Limiter(Protocol):
    """Takes one request and `tokens` from every limited subject, or raises LimitExceeded."""

    async def take(self, subjects: list[tuple[str, Limits]], tokens: int) -> Ticket: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class MemoryTicket:
    """What one admitted request holds in this process's windows."""

    taken: list[tuple[_Window, _Entry]]
    done: bool = False

    def settle(self, actual_tokens: int) -> None:
        if self.done:
            return
        self.done = True
        for window, entry in self.taken:
            window.inflight -= 1
            if entry.live:  # still inside the window
                window.tokens += actual_tokens - entry.tokens
                entry.tokens = actual_tokens


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    async def take(self, subjects: list[tuple[str, Limits]], tokens: int) -> Ticket:
        return self.acquire(subjects, tokens)

    async def close(self) -> None:
        """Nothing to release: the windows live in this process."""

    def acquire(self, subjects: list[tuple[str, Limits]], tokens: int) -> MemoryTicket:
        """Take one request and `tokens` from every limited subject, or raise LimitExceeded."""
        now = self._clock()
        windows = []
        for name, limits in subjects:
            window = self._windows.setdefault(name, _Window())
            window.expire(now)
            _check(name, limits, window, tokens, now)
            windows.append(window)
        taken = []
        for window in windows:
            entry = _Entry(now, tokens)
            window.entries.append(entry)
            window.tokens += tokens
            window.inflight += 1
            taken.append((window, entry))
        return MemoryTicket(taken)


def _wait(window: _Window, now: float, enough: Callable[[int, int], bool]) -> int:
    """Seconds until enough entries leave the window (`enough(requests_left, tokens_left)`)."""
    requests, tokens = len(window.entries), window.tokens
    for entry in window.entries:
        requests -= 1
        tokens -= entry.tokens
        if enough(requests, tokens):
            return max(1, math.ceil(entry.at + WINDOW_S - now))
    return int(WINDOW_S)


def _check(name: str, limits: Limits, window: _Window, tokens: int, now: float) -> None:
    if limits.max_concurrent is not None and window.inflight >= limits.max_concurrent:
        raise LimitExceeded(f"too many concurrent requests for {name} (limit {limits.max_concurrent})", 1)
    rpm = limits.requests_per_minute
    if rpm is not None and len(window.entries) >= rpm:
        raise LimitExceeded(f"rate limit reached for {name}: {rpm} requests per minute",
                            _wait(window, now, lambda r, _t: r < rpm))
    tpm = limits.tokens_per_minute
    if tpm is not None and window.tokens + tokens > tpm:
        if tokens > tpm:
            raise LimitExceeded(f"this request may use {tokens} tokens, over the limit of {tpm} tokens per "
                                f"minute for {name}; lower max_tokens", int(WINDOW_S))
        raise LimitExceeded(f"rate limit reached for {name}: {tpm} tokens per minute",
                            _wait(window, now, lambda _r, t: t + tokens <= tpm))
