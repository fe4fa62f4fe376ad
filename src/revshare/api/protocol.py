"""Wire models of the OpenAI-compatible API (requests only; responses are engine-shaped dicts).

Checked as OpenAI checks them, and no looser: JSON types are strict (`"4"` is not 4, `1` is not
`true`; an integer is a valid number), unknown fields are refused at every level (the body, a
message, a content part, a tool), and each shape OpenAI defines (messages by role, content
parts by type, tools, tool_choice, response_format) is checked whole before any engine sees it.
Parameters OpenAI defines but an engine cannot honour are passed on for the engine to refuse
(docs/API.md, "Parameters by engine", is the table of what each engine does with each).

Limits of our own, documented in docs/API.md: `MAX_NAME_CHARS` for a message's `name`,
`MAX_TOOLS`, `MAX_LOGIT_BIAS` entries with token ids up to `MAX_TOKEN_ID`, `seed` in 64 bits.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["INT64_MAX", "INT64_MIN", "MAX_LOGIT_BIAS", "MAX_NAME_CHARS", "MAX_TOKEN_ID", "MAX_TOOLS",
           "ChatCompletionRequest", "CompletionRequest", "Message", "StreamOptions", "WireError"]

MAX_NAME_CHARS = 256
MAX_TOOLS = 128
MAX_LOGIT_BIAS = 1024
MAX_TOKEN_ID = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_TOKEN_ID = re.compile(r"0|[1-9][0-9]{0,9}")
# The same rule in the OpenAPI document (0 to 2^31-1, digit by digit), where `int()` is not at hand.
_TOKEN_ID_PATTERN = (r"^(0|[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
                     r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])$")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
FunctionName = Annotated[str, Field(min_length=1, max_length=64)]
NonEmpty = Annotated[str, Field(min_length=1)]

# Content parts --------------------------------------------------------------------------------


class TextPart(_Wire):
    type: Literal["text"]
    text: str


class ImageURL(_Wire):
    url: str
    detail: str | None = None


class ImagePart(_Wire):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(_Wire):
    data: str
    format: str


class AudioPart(_Wire):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileData(_Wire):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Wire):
    type: Literal["file"]
    file: FileData


class RefusalPart(_Wire):
    type: Literal["refusal"]
    refusal: str


# Non-empty lists of parts, told apart by their `type`.
TextParts = Annotated[list[TextPart], Field(min_length=1)]
UserParts = Annotated[list[Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]],
                      Field(min_length=1)]
AssistantParts = Annotated[list[Annotated[TextPart | RefusalPart, Field(discriminator="type")]], Field(min_length=1)]

# Messages, by role ----------------------------------------------------------------------------


class FunctionCall(_Wire):
    name: FunctionName
    arguments: str


class FunctionToolCall(_Wire):
    id: str
    type: Literal["function"]
    function: FunctionCall


class CustomCall(_Wire):
    name: FunctionName
    input: str


class CustomToolCall(_Wire):
    id: str
    type: Literal["custom"]
    custom: CustomCall


class AudioRef(_Wire):
    id: str


class SystemMessage(_Wire):
    role: Literal["system"]
    content: str | TextParts
    name: Name | None = None


class DeveloperMessage(_Wire):
    role: Literal["developer"]
    content: str | TextParts
    name: Name | None = None


class UserMessage(_Wire):
    role: Literal["user"]
    content: str | UserParts
    name: Name | None = None


class AssistantMessage(_Wire):
    # `_says_something` in the OpenAPI document: a client (or a fuzzer) reads it there.
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"anyOf": [
        {"required": ["content"], "properties": {"content": {"not": {"type": "null"}}}},
        {"required": ["tool_calls"], "properties": {"tool_calls": {"type": "array"}}},
        {"required": ["function_call"], "properties": {"function_call": {"type": "object"}}},
        {"required": ["audio"], "properties": {"audio": {"type": "object"}}},
        {"required": ["refusal"], "properties": {"refusal": {"type": "string", "minLength": 1}}},
    ]})

    role: Literal["assistant"]
    content: str | AssistantParts | None = None
    name: Name | None = None
    refusal: str | None = None
    tool_calls: Annotated[list[Annotated[FunctionToolCall | CustomToolCall, Field(discriminator="type")]],
                          Field(min_length=1)] | None = None
    function_call: FunctionCall | None = None
    audio: AudioRef | None = None

    @model_validator(mode="after")
    def _says_something(self) -> AssistantMessage:
        if self.content is None and not (self.tool_calls or self.function_call or self.audio or self.refusal):
            raise _missing("content", "an assistant message needs content unless it has tool_calls")
        return self


class ToolMessage(_Wire):
    role: Literal["tool"]
    content: str | TextParts
    tool_call_id: str


Message = Annotated[SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage,
                    Field(discriminator="role")]

# Tools, tool_choice, response_format ----------------------------------------------------------


class FunctionDefinition(_Wire):
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(_Wire):
    type: Literal["function"]
    function: FunctionDefinition


class CustomDefinition(_Wire):
    name: FunctionName
    description: str | None = None
    format: dict[str, Any] | None = None


class CustomTool(_Wire):
    type: Literal["custom"]
    custom: CustomDefinition


class NamedFunction(_Wire):
    name: FunctionName


class FunctionChoice(_Wire):
    type: Literal["function"]
    function: NamedFunction


class CustomChoice(_Wire):
    type: Literal["custom"]
    custom: NamedFunction


class AllowedTools(_Wire):
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class AllowedToolsChoice(_Wire):
    type: Literal["allowed_tools"]
    allowed_tools: AllowedTools


ToolChoice = (Literal["none", "auto", "required"]
              | Annotated[FunctionChoice | CustomChoice | AllowedToolsChoice, Field(discriminator="type")])


class TextFormat(_Wire):
    type: Literal["text"]


class JsonObjectFormat(_Wire):
    type: Literal["json_object"]


class JsonSchema(_Wire):
    name: FunctionName
    description: str | None = None
    model_config = ConfigDict(extra="forbid", strict=True, serialize_by_alias=True)

    schema_: dict[str, Any] | None = Field(default=None, alias="schema")  # `schema` would shadow BaseModel's
    strict: bool | None = None


class JsonSchemaFormat(_Wire):
    type: Literal["json_schema"]
    json_schema: JsonSchema


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]

# Requests -------------------------------------------------------------------------------------


class StreamOptions(_Wire):
    include_usage: bool = False
    include_obfuscation: bool | None = None  # OpenAI's; nothing to obfuscate here, accepted and unused


Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(ge=0.0, le=1.0)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
# No upper bound here: admission compares it with the model's context and names the context.
MaxTokens = Annotated[int, Field(ge=1)]
Stop = NonEmpty | Annotated[list[NonEmpty], Field(max_length=4)] | None
Bias = Annotated[float, Field(ge=-100.0, le=100.0)]


def _only_with(field: str, kind: str, flag: str) -> dict[str, Any]:
    """The OpenAPI form of a check across fields: `field` (when not null) needs `flag` true."""
    return {"if": {"required": [field], "properties": {field: {"type": kind}}},
            "then": {"required": [flag], "properties": {flag: {"const": True}}}}


class _Sampling(_Wire):
    model: str = Field(min_length=1, max_length=256)
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    n: Annotated[int, Field(ge=1, le=1)] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    stop: Stop = None
    seed: Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: Annotated[dict[str, Bias], Field(max_length=MAX_LOGIT_BIAS, json_schema_extra={
        "propertyNames": {"pattern": _TOKEN_ID_PATTERN}})] | None = None
    user: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _consistent(self) -> _Sampling:
        if self.stream_options is not None and not self.stream:
            raise _invalid("stream_options", "'stream_options' is only allowed when 'stream' is true")
        for token in self.logit_bias or {}:
            if _TOKEN_ID.fullmatch(token) is None or int(token) > MAX_TOKEN_ID:
                raise _invalid("logit_bias", f"the keys of 'logit_bias' are token ids (integers from 0 to "
                                             f"{MAX_TOKEN_ID}); {token!r} is not one")
        return self

    def engine_params(self) -> dict[str, Any]:
        """The body for the engine: everything the client set except model and stream keys."""
        return self.model_dump(exclude_none=True, by_alias=True, exclude={"model", "stream", "stream_options"})

    @property
    def is_stream(self) -> bool:
        return bool(self.stream)

    @property
    def wants_usage_chunk(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Sampling):
    """POST /v1/chat/completions."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"allOf": [
        _only_with("stream_options", "object", "stream"), _only_with("top_logprobs", "integer", "logprobs")]})

    messages: Annotated[list[Message], Field(min_length=1, max_length=4096)]
    max_completion_tokens: MaxTokens | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    response_format: ResponseFormat | None = None
    tools: Annotated[list[Annotated[FunctionTool | CustomTool, Field(discriminator="type")]],
                     Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    metadata: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
                        Field(max_length=16)] | None = None
    store: bool | None = None

    @model_validator(mode="after")
    def _logprobs(self) -> ChatCompletionRequest:
        if self.top_logprobs is not None and not self.logprobs:
            raise _invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true")
        return self

    def engine_params(self) -> dict[str, Any]:
        params = super().engine_params()
        # Newer clients send max_completion_tokens; engines still read max_tokens.
        if "max_completion_tokens" in params:
            params["max_tokens"] = params.pop("max_completion_tokens")
        return params  # metadata and store too: an upstream gets them, the embedded engine refuses them

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    """POST /v1/completions (legacy text completions)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"allOf": [
        _only_with("stream_options", "object", "stream")]})

    prompt: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1, max_length=1)]
    echo: bool | None = None
    logprobs: Annotated[int, Field(ge=0, le=5)] | None = None
    suffix: str | None = None
    best_of: Annotated[int, Field(ge=1, le=1)] | None = None

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_tokens


class WireError(ValueError):
    """A check across fields failed: which parameter, and why (the API reports it as such)."""

    def __init__(self, param: str, message: str, code: str) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def _invalid(param: str, message: str) -> WireError:
    return WireError(param, message, "invalid_value")


def _missing(param: str, message: str) -> WireError:
    return WireError(param, message, "missing_required_parameter")
