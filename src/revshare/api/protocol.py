"""Wire models of the OpenAI-compatible API (requests only; responses are engine-shaped dicts).

Parameters OpenAI defines but revshare cannot honour for every engine are accepted and passed
to the engine; unknown parameters are refused with 400, as OpenAI does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChatCompletionRequest", "ChatMessage", "CompletionRequest", "StreamOptions"]

MAX_TOKENS_LIMIT = 1_000_000


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamOptions(_Wire):
    include_usage: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(ge=0.0, le=1.0)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
MaxTokens = Annotated[int, Field(ge=1, le=MAX_TOKENS_LIMIT)]
Stop = str | Annotated[list[str], Field(max_length=4)] | None


class _Sampling(_Wire):
    model: str = Field(min_length=1, max_length=256)
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    n: Annotated[int, Field(ge=1, le=1)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: Stop = None
    seed: int | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = Field(default=None, max_length=256)

    def engine_params(self) -> dict[str, Any]:
        """The body for the engine: everything the client set except model and stream keys."""
        return self.model_dump(exclude_none=True, exclude={"model", "stream", "stream_options"})

    @property
    def wants_usage_chunk(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Sampling):
    """POST /v1/chat/completions."""

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=4096)]
    max_completion_tokens: MaxTokens | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None

    def engine_params(self) -> dict[str, Any]:
        params = super().engine_params()
        # Newer clients send max_completion_tokens; engines still read max_tokens.
        if "max_completion_tokens" in params:
            params["max_tokens"] = params.pop("max_completion_tokens")
        params.pop("metadata", None)
        params.pop("store", None)
        return params

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    """POST /v1/completions (legacy text completions)."""

    prompt: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1, max_length=1)]
    echo: bool | None = None
    logprobs: Annotated[int, Field(ge=0, le=5)] | None = None
    suffix: str | None = None
    best_of: Annotated[int, Field(ge=1, le=1)] | None = None

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_tokens
