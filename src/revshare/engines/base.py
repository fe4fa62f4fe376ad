"""The engine interface: OpenAI-shaped requests in, OpenAI-shaped bodies or chunks out.

Every engine reports token counts into a `UsageMeter` as it goes, so a request cut short by the
client is still metered with the tokens actually produced. The API layer, not the engine, adds
the usage chunk a streaming client asked for, from the meter.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from revshare.config import ModelConfig

__all__ = [
    "Endpoint",
    "Engine",
    "EngineError",
    "EngineRejected",
    "EngineUnavailable",
    "GenerationRequest",
    "TokenCounter",
    "UsageMeter",
]

# "responses" runs as a chat completion (the API maps OpenAI's Responses onto chat); "embeddings"
# is answered by `Engine.complete` with OpenAI's embeddings body, never streamed, and an engine
# serving no embeddings refuses it (EngineRejected, param "model"). So the interface stays
# complete/stream: a router that wraps engines delegates embeddings with no extra method.
Endpoint = Literal["chat.completions", "completions", "embeddings", "responses"]
TokenCounter = Callable[[str], int]


class EngineError(Exception):
    """The engine failed to answer: an upstream failure (the API answers 502).

    Engines translate their own libraries' errors (the HTTP pool's, llama.cpp's) into this family, once,
    where they call them; the API maps each class to a status in one table.
    """

    code = "engine_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class EngineRejected(EngineError):
    """The engine refused the request as invalid: the client's mistake (400), recorded `rejected`."""


class EngineUnavailable(EngineError):
    """The engine cannot be reached or is not loaded: try again later (503)."""

    code = "engine_unavailable"


@dataclass(slots=True)
class UsageMeter:
    """Token counts of one request, updated while it runs.

    `estimated` is set when the engine gave no usage and a tokenizer counted instead. `engine` is
    set by a router to the engine that served (the record names it); empty: the model's engine.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cached_reported: bool = False  # the engine said how many prompt tokens were cached (even 0)
    estimated: bool = False
    finished: bool = False
    engine: str = ""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What to generate. `params` is the validated OpenAI body without model and stream keys."""

    endpoint: Endpoint
    model: ModelConfig
    params: dict[str, Any] = field(default_factory=dict)


class Engine(abc.ABC):
    """A source of completions for the models that name it in the catalog."""

    id: str

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Load or connect; called once at server start."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; called once at shutdown."""

    async def ready(self) -> str | None:
        """Readiness: None when the engine can take requests now, else a short reason.

        Called by `GET /readyz`, so it must be cheap and bounded (an engine that asks a remote
        server caches the answer for a few seconds).
        """
        return None

    @abc.abstractmethod
    async def complete(self, request: GenerationRequest, meter: UsageMeter) -> dict[str, Any]:
        """Return the whole OpenAI response body (with `usage`)."""

    @abc.abstractmethod
    def stream(self, request: GenerationRequest, meter: UsageMeter) -> AsyncIterator[dict[str, Any]]:
        """Yield OpenAI chunk objects (without any usage-only chunk) as tokens arrive."""

    @abc.abstractmethod
    def count_tokens(self, model: ModelConfig, text: str) -> int:
        """Count tokens with the model's tokenizer; used only when the engine reports none."""
