"""Upstream engine: any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, TGI) over HTTP.

One keep-alive connection pool per engine (`http1.ConnectionPool`, asyncio and httptools).
(httpx was the first choice and cost about 800 µs a round trip; aiohttp then cost 300 µs, a
quarter of the gateway's event-loop time per request; the lean pool does only what this engine
needs: see docs/ARCHITECTURE.md.) On streams the upstream is always asked for usage
(`stream_options.include_usage`); its usage chunk feeds the meter and is never forwarded as is.
Client errors are translated here, once, into EngineError / EngineUnavailable.

Readiness (`ready()`, for `GET /readyz`) is a GET of the upstream's `/models` with a 1 s
timeout, on a one-connection pool of its own (so a pool saturated by long streams does not
fail the probe), and its answer is kept for `PROBE_TTL_S` so probes never hammer the upstream.
Any HTTP answer means the upstream serves, except 5xx and 401/403 (our key is refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from revshare.config import EngineConfig, ModelConfig
from revshare.engines import json_wire
from revshare.engines.base import (
    Engine,
    EngineError,
    EngineRejected,
    EngineUnavailable,
    GenerationRequest,
    UsageMeter,
)
from revshare.engines.embedding import embeddings_body, input_texts
from revshare.engines.http1 import ConnectionPool, Exchange, UpstreamConnectionError

__all__ = ["UpstreamEngine"]

_PATHS = {"chat.completions": "/chat/completions", "completions": "/completions", "embeddings": "/embeddings",
          "responses": "/chat/completions"}

PROBE_TIMEOUT_S = 1.0
PROBE_TTL_S = 5.0


class UpstreamEngine(Engine):
    """Forwards requests to an OpenAI-compatible base URL and meters what comes back."""

    def __init__(
        self,
        config: EngineConfig,
        tokenizer: Callable[[ModelConfig, str], int] | None = None,
    ) -> None:
        assert config.base_url is not None
        self.id = config.id
        self._config = config
        self._tokenizer = tokenizer
        self._base = config.base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if config.api_key_env and os.environ.get(config.api_key_env):
            self._headers["Authorization"] = f"Bearer {os.environ[config.api_key_env]}"
        self._pool: ConnectionPool | None = None
        self._probe_pool: ConnectionPool | None = None
        self._probe_lock = asyncio.Lock()
        self._probed: tuple[float, str | None] | None = None  # (monotonic time, answer)

    async def start(self) -> None:
        # Lines of a stream may be up to http1.MAX_LINE (4 MiB): one SSE line may carry a large tool call.
        self._pool = ConnectionPool(self._base, self._headers, limit=self._config.max_connections,
                                    timeout_s=self._config.timeout_s,
                                    connect_timeout_s=self._config.connect_timeout_s)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._probe_pool is not None:
            await self._probe_pool.close()
            self._probe_pool = None

    async def ready(self) -> str | None:
        async with self._probe_lock:  # concurrent probes share one GET
            if self._probed is None or time.monotonic() - self._probed[0] >= PROBE_TTL_S:
                self._probed = (time.monotonic(), await self._probe())
            return self._probed[1]

    async def _probe(self) -> str | None:
        if self._pool is None:
            return "not started"
        if self._probe_pool is None:
            self._probe_pool = ConnectionPool(self._base, self._headers, limit=1, timeout_s=PROBE_TIMEOUT_S,
                                              connect_timeout_s=PROBE_TIMEOUT_S)
        try:
            async with self._probe_pool.request("GET", "/models") as response:
                status = response.status
                await response.read()
        except (TimeoutError, UpstreamConnectionError) as exc:
            return str(_unavailable(self.id, exc))
        if status >= 500 or status in (401, 403):
            return f"engine {self.id!r} answered GET /models with HTTP {status}"
        return None

    def _post(self, request: GenerationRequest, stream: bool) -> Exchange:
        if self._pool is None:
            raise EngineUnavailable(f"engine {self.id!r} is not started")
        data = json_wire.dumps(self._body(request, stream))
        return self._pool.request("POST", _PATHS[request.endpoint], data)

    def count_tokens(self, model: ModelConfig, text: str) -> int:
        if self._tokenizer is not None:
            return self._tokenizer(model, text)
        # No tokenizer for this model: about four characters a token for English text. Only used
        # for records already flagged `estimated`, and never zero for text that was produced.
        return max(1, (len(text) + 3) // 4) if text else 0

    def _body(self, request: GenerationRequest, stream: bool) -> dict[str, Any]:
        body = dict(request.params)
        if request.endpoint == "embeddings":
            # Floats from the upstream (every server sends them); encoded here as the client asked.
            body["encoding_format"] = "float"
            body["model"] = request.model.served_name
            return body
        if body.get("max_tokens") is None:
            body["max_tokens"] = request.model.max_tokens_for(None)  # the catalog's default
        body["model"] = request.model.served_name
        body["stream"] = stream
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def complete(self, request: GenerationRequest, meter: UsageMeter) -> dict[str, Any]:
        try:
            async with self._post(request, False) as response:
                body = await response.read()
                status = response.status
        except (TimeoutError, UpstreamConnectionError) as exc:
            raise _unavailable(self.id, exc) from exc
        if status >= 400:
            raise _upstream_error(self.id, status, body)
        try:
            data: dict[str, Any] = json_wire.loads(body)
        except ValueError as exc:
            raise EngineError(f"engine {self.id!r} returned a body that is not JSON") from exc
        if request.endpoint == "embeddings":
            return _embeddings(self.id, request, meter, data, self.count_tokens)
        usage = data.get("usage") or {}
        if isinstance(usage.get("completion_tokens"), int) and isinstance(usage.get("prompt_tokens"), int):
            meter.prompt_tokens = usage["prompt_tokens"]
            meter.completion_tokens = usage["completion_tokens"]
            details = usage.get("prompt_tokens_details") or {}
            meter.cached_tokens = int(details.get("cached_tokens") or 0)
            meter.cached_reported = isinstance(details.get("cached_tokens"), int)
        else:
            meter.estimated = True
            meter.prompt_tokens = self.count_tokens(request.model, _prompt_text(request))
            meter.completion_tokens = self.count_tokens(request.model, _choices_text(data))
        meter.finished = True
        return data

    async def stream(
        self, request: GenerationRequest, meter: UsageMeter
    ) -> AsyncIterator[dict[str, Any]]:
        # Until the upstream's usage chunk arrives, the meter holds our own count, kept current
        # chunk by chunk, so a stream cut short at any point is metered with what was produced.
        meter.estimated = True
        meter.prompt_tokens = self.count_tokens(request.model, _prompt_text(request))
        try:
            async with self._post(request, True) as response:
                if response.status >= 400:
                    raise _upstream_error(self.id, response.status, await response.read())
                async for raw in response.lines():
                    if not raw.startswith(b"data:"):
                        continue
                    payload = raw[5:].strip()
                    if payload == b"[DONE]":
                        break
                    try:
                        chunk = json_wire.loads(payload)
                    except ValueError as exc:
                        raise EngineError(f"engine {self.id!r} sent a stream event that is not JSON") from exc
                    usage = chunk.pop("usage", None)
                    if usage and isinstance(usage.get("completion_tokens"), int):
                        meter.estimated = False
                        meter.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                        meter.completion_tokens = usage["completion_tokens"]
                        details = usage.get("prompt_tokens_details") or {}
                        meter.cached_tokens = int(details.get("cached_tokens") or 0)
                        meter.cached_reported = isinstance(details.get("cached_tokens"), int)
                    if not chunk.get("choices"):
                        continue  # the usage-only chunk: the API layer emits its own
                    text = _choices_text(chunk)
                    if text and meter.estimated:
                        meter.completion_tokens += self.count_tokens(request.model, text)
                    yield chunk
        except (TimeoutError, UpstreamConnectionError) as exc:
            raise _unavailable(self.id, exc) from exc
        meter.finished = True


def _embeddings(engine_id: str, request: GenerationRequest, meter: UsageMeter, data: dict[str, Any],
                count: Callable[[ModelConfig, str], int]) -> dict[str, Any]:
    """An upstream's embeddings, metered by its usage (else counted), encoded as the client asked."""
    try:
        vectors = [[float(x) for x in item["embedding"]] for item in sorted(data["data"], key=lambda d: d["index"])]
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineError(f"engine {engine_id!r} returned embeddings in an unknown shape") from exc
    usage = data.get("usage") or {}
    if isinstance(usage.get("prompt_tokens"), int):
        meter.prompt_tokens = usage["prompt_tokens"]
    else:
        meter.estimated = True
        meter.prompt_tokens = sum(count(request.model, t) for t in input_texts(request.params)
                                  if isinstance(t, str))
    meter.finished = True
    return embeddings_body(vectors, request.model.id, request.params.get("encoding_format") or "float")


def _unavailable(engine_id: str, exc: BaseException) -> EngineUnavailable:
    kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else "is unreachable"
    return EngineUnavailable(f"engine {engine_id!r} {kind} ({exc.__class__.__name__})")


def _upstream_error(engine_id: str, status: int, body: bytes) -> EngineError:
    message = ""
    with contextlib.suppress(ValueError, AttributeError):
        message = str(json.loads(body).get("error", {}).get("message", ""))
    if 400 <= status < 500 and status not in (401, 403, 404, 429):
        return EngineRejected(message or f"engine {engine_id!r} rejected the request")
    if status == 429:
        return EngineUnavailable(f"engine {engine_id!r} is overloaded; retry later")
    return EngineError(f"engine {engine_id!r} failed with HTTP {status}" + (f": {message}" if message else ""))


def _prompt_text(request: GenerationRequest) -> str:
    if request.endpoint == "completions":
        prompt = request.params.get("prompt", "")
        return prompt if isinstance(prompt, str) else "".join(map(str, prompt))
    parts = []
    for message in request.params.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def _choices_text(data: dict[str, Any]) -> str:
    out = []
    for choice in data.get("choices") or []:
        if "text" in choice:
            out.append(choice.get("text") or "")
        for key in ("message", "delta"):
            part = choice.get(key) or {}
            out.append(part.get("content") or "")
    return "".join(out)
