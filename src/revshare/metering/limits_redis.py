"""Rate limits shared by every gateway replica through Redis: RPM, TPM and concurrency, held whole.

The same rules as the in-process `RateLimiter` (a sliding 60 s window; tokens taken at admission
as the request's most and settled to the actual count when it ends; every subject checked before
any is taken), run as one Lua script per admission, so that two replicas admitting at the same
instant cannot both take the last request of a minute. Time is Redis's own clock (`TIME`), so
replicas whose clocks disagree still share one window.

Per subject (a customer or a key) three keys: `<prefix>:rl:<subject>:req` (a sorted set of the
window's requests by start time), `:tok` (each request's tokens) and `:sum` (their total), and
`:run` (the requests running, scored by when their slot lapses, `concurrency_ttl_s` after they
start: a replica killed mid-request cannot hold a slot forever).

Redis unreachable (refused, timed out): fail closed (LimitExceeded, 429, retry in a second) by
default, or fail open (served without limits) with `rate_limits.fail_open`; each change of state
is logged once. Settling is sent in the background: a settle lost with Redis only leaves an
entry to expire with its window.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from revshare.config import Limits
from revshare.config.scaleout_sections import RateLimitsConfig
from revshare.metering.limits import WINDOW_S, LimitExceeded, Ticket

__all__ = ["RedisLimiter", "redis_url"]

log = logging.getLogger("revshare")

# KEYS: 4 a subject (req, tok, sum, run). ARGV: tokens, id, window ms, slot ttl ms, then 3 a
# subject (rpm, tpm, concurrent; 0: none). Returns {0} or {subject number, kind, retry after s}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens, id = tonumber(ARGV[1]), ARGV[2]
local window, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = #KEYS / 4
for i = 0, n - 1 do
  local req, tok, sum, run = KEYS[4*i+1], KEYS[4*i+2], KEYS[4*i+3], KEYS[4*i+4]
  local rpm, tpm, conc = tonumber(ARGV[5+3*i]), tonumber(ARGV[6+3*i]), tonumber(ARGV[7+3*i])
  local old = redis.call('ZRANGEBYSCORE', req, '-inf', now - window)
  if #old > 0 then
    local total = 0
    for _, v in ipairs(redis.call('HMGET', tok, unpack(old))) do total = total + (tonumber(v) or 0) end
    redis.call('DECRBY', sum, total)
    redis.call('HDEL', tok, unpack(old))
    redis.call('ZREMRANGEBYSCORE', req, '-inf', now - window)
  end
  redis.call('ZREMRANGEBYSCORE', run, '-inf', now)
  if conc > 0 and redis.call('ZCARD', run) >= conc then return {i + 1, 'concurrent', 1} end
  local count = redis.call('ZCARD', req)
  if rpm > 0 and count >= rpm then
    local leaving = redis.call('ZRANGE', req, count - rpm, count - rpm, 'WITHSCORES')
    return {i + 1, 'rpm', math.max(1, math.ceil((tonumber(leaving[2]) + window - now) / 1000))}
  end
  if tpm > 0 then
    local used = tonumber(redis.call('GET', sum) or '0')
    if used + tokens > tpm then
      if tokens > tpm then return {i + 1, 'tpm_request', window / 1000} end
      local entries = redis.call('ZRANGE', req, 0, -1, 'WITHSCORES')
      local wait = window
      for j = 1, #entries, 2 do
        used = used - (tonumber(redis.call('HGET', tok, entries[j])) or 0)
        if used + tokens <= tpm then wait = tonumber(entries[j + 1]) + window - now break end
      end
      return {i + 1, 'tpm', math.max(1, math.ceil(wait / 1000))}
    end
  end
end
for i = 0, n - 1 do
  local req, tok, sum, run = KEYS[4*i+1], KEYS[4*i+2], KEYS[4*i+3], KEYS[4*i+4]
  redis.call('ZADD', req, now, id)
  redis.call('HSET', tok, id, tokens)
  redis.call('INCRBY', sum, tokens)
  redis.call('ZADD', run, now + ttl, id)
  for _, key in ipairs({req, tok, sum, run}) do redis.call('PEXPIRE', key, window + ttl) end
end
return {0}
"""

# KEYS: 4 a subject. ARGV: id, actual tokens. The request leaves `run`; its tokens become the
# actual count if it is still in the window.
_SETTLE = """
for i = 0, #KEYS / 4 - 1 do
  local tok, sum, run = KEYS[4*i+2], KEYS[4*i+3], KEYS[4*i+4]
  redis.call('ZREM', run, ARGV[1])
  local held = redis.call('HGET', tok, ARGV[1])
  if held then
    redis.call('HSET', tok, ARGV[1], ARGV[2])
    redis.call('INCRBY', sum, tonumber(ARGV[2]) - tonumber(held))
  end
end
return 0
"""


def redis_url(config: RateLimitsConfig, environ: dict[str, str]) -> str | None:
    """The Redis to share limits through: $<redis_url_env>, else `redis_url`, else None (in-process)."""
    return environ.get(config.redis_url_env) or config.redis_url


class _RedisTicket:
    def __init__(self, limiter: RedisLimiter, keys: list[str], ticket_id: str) -> None:
        self._limiter, self._keys, self._id = limiter, keys, ticket_id
        self._done = False

    def settle(self, actual_tokens: int) -> None:
        if self._done:
            return
        self._done = True
        self._limiter.settle_later(self._keys, self._id, actual_tokens)


class _Unlimited:
    def settle(self, actual_tokens: int) -> None:
        """Taken while Redis was unreachable (fail open): nothing to give back."""


class RedisLimiter:
    """A `Limiter` whose windows live in Redis, shared by every gateway that names the same Redis."""

    def __init__(self, url: str, config: RateLimitsConfig) -> None:
        self._config = config
        self._client = aioredis.Redis.from_url(url, socket_timeout=config.timeout_s,
                                               socket_connect_timeout=config.timeout_s)
        self._take = self._client.register_script(_TAKE)
        self._settle = self._client.register_script(_SETTLE)
        self._pending: set[asyncio.Task[None]] = set()
        self._unreachable = False

    def _keys(self, subjects: list[tuple[str, Limits]]) -> list[str]:
        prefix = self._config.key_prefix
        return [f"{prefix}:rl:{name}:{part}" for name, _ in subjects for part in ("req", "tok", "sum", "run")]

    async def take(self, subjects: list[tuple[str, Limits]], tokens: int) -> Ticket:
        keys = self._keys(subjects)
        ticket_id = uuid.uuid4().hex
        args: list[int | str] = [tokens, ticket_id, int(WINDOW_S * 1000), int(self._config.concurrency_ttl_s * 1000)]
        for _, limits in subjects:
            args += [limits.requests_per_minute or 0, limits.tokens_per_minute or 0, limits.max_concurrent or 0]
        try:
            answer = await self._take(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            return self._down(exc)
        if self._unreachable:
            self._unreachable = False
            log.warning("rate limits: Redis answers again; limits are shared again")
        if int(answer[0]) == 0:
            return _RedisTicket(self, keys, ticket_id)
        name, limits = subjects[int(answer[0]) - 1]
        kind, retry_after = answer[1].decode() if isinstance(answer[1], bytes) else str(answer[1]), int(answer[2])
        raise LimitExceeded(_message(kind, name, limits, tokens), retry_after)

    def _down(self, exc: BaseException) -> Ticket:
        if not self._unreachable:
            self._unreachable = True
            then = "served without limits (fail_open)" if self._config.fail_open else "refused (fail closed)"
            log.warning("rate limits: Redis is unreachable (%s); requests are %s until it answers",
                        type(exc).__name__, then)
        if self._config.fail_open:
            return _Unlimited()
        raise LimitExceeded("rate limits cannot be checked now (their store is unreachable); retry shortly", 1)

    def settle_later(self, keys: list[str], ticket_id: str, actual_tokens: int) -> None:
        """Give back the concurrency slot and correct the tokens, without holding up the request."""
        try:
            task = asyncio.get_running_loop().create_task(self._send_settle(keys, ticket_id, actual_tokens))
        except RuntimeError:  # no loop (shut down): the slot lapses with concurrency_ttl_s
            return
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_settle(self, keys: list[str], ticket_id: str, actual_tokens: int) -> None:
        try:
            await self._settle(keys=keys, args=[ticket_id, actual_tokens])
        except (RedisError, OSError) as exc:
            log.warning("rate limits: could not settle a request in Redis (%s); its entry expires with its "
                        "window", type(exc).__name__)

    async def close(self) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)
        await self._client.aclose()


def _message(kind: str, name: str, limits: Limits, tokens: int) -> str:
    """The same words as the in-process limiter's."""
    if kind == "concurrent":
        return f"too many concurrent requests for {name} (limit {limits.max_concurrent})"
    if kind == "rpm":
        return f"rate limit reached for {name}: {limits.requests_per_minute} requests per minute"
    if kind == "tpm_request":
        return (f"this request may use {tokens} tokens, over the limit of {limits.tokens_per_minute} tokens per "
                f"minute for {name}; lower max_tokens")
    return f"rate limit reached for {name}: {limits.tokens_per_minute} tokens per minute"
