"""POST /v1/responses: the stateless subset of OpenAI's Responses API, run as a chat completion.

Input as a string or as messages (`user`, `system`, `developer`, `assistant`; content a string or
`input_text` / `output_text` parts), `instructions` (a system message first), `max_output_tokens`,
`temperature`, `top_p`, `text.format` (`text`, `json_object`, `json_schema`: the chat
`response_format`), `user`, `stream` with the typed events (`api.responses_wire`). Metered as any
chat request, its record's endpoint `responses`. Refused with a 400 naming the parameter: what
needs a stored response (`previous_response_id`, `store: true`; revshare keeps no prompt or reply
text), `metadata`, `tools`; any other field is refused as unknown.

An `Idempotency-Key` works as on chat (`openai_routes.serve`): the same key and body replay the
first answer byte for byte (`idempotent-replayed: true`), another body is a 422, a retry while
the first runs a 409. What the serving core keeps of a whole answer is the chat completion it ran
as, so `serve` turns a replay into the same `response` object again. A stream with a key
is refused (400, `param` `Idempotency-Key`): a replayed stream gets its end rebuilt by the chat
trailer (a usage chunk and `data: [DONE]`), which is not a Responses stream's end.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from revshare.api.auth import require_customer
from revshare.api.errors import ApiError, error_responses
from revshare.api.openai_routes import IdempotencyKey, StrictJsonRoute, serve
from revshare.api.openapi import CUSTOMER
from revshare.api.protocol import WireError
from revshare.api.responses_wire import ResponsesWire, response_object
from revshare.api.sse import OPENAI_WIRE
from revshare.ledger.store import ApiKey

__all__ = ["ResponsesRequest", "router"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class InputText(_Wire):
    type: Literal["input_text"]
    text: str


class OutputText(_Wire):
    type: Literal["output_text"]
    text: str
    annotations: list[Any] | None = None


Parts = Annotated[list[Annotated[InputText | OutputText, Field(discriminator="type")]], Field(min_length=1)]


class InputMessage(_Wire):
    type: Literal["message"] | None = None
    role: Literal["user", "system", "developer", "assistant"]
    content: str | Parts


class TextFormat(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    description: str | None = None
    model_config = ConfigDict(extra="forbid", strict=True, serialize_by_alias=True)
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextConfig(_Wire):
    format: TextFormat | None = None


def _unsupported(param: str, message: str) -> WireError:
    return WireError(param, message, "unsupported_parameter")


class ResponsesRequest(_Wire):
    """POST /v1/responses (stateless)."""

    model: str = Field(min_length=1, max_length=256)
    input: Annotated[str, Field(min_length=1)] | Annotated[list[InputMessage], Field(min_length=1, max_length=4096)]
    instructions: str | None = None
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    stream: bool | None = None
    user: str | None = Field(default=None, max_length=256)
    text: TextConfig | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    tools: list[Any] | None = None

    wants_usage_chunk: ClassVar[bool] = True  # a stream always ends with the usage (response.completed)

    @model_validator(mode="after")
    def _stateless(self) -> ResponsesRequest:
        if self.previous_response_id is not None:
            raise _unsupported("previous_response_id", "revshare stores no responses (no prompt or reply text is "
                                                       "kept), so none can be continued; send the whole input")
        if self.store:
            raise _unsupported("store", "revshare stores no responses; leave 'store' unset or false")
        if self.metadata is not None:
            raise _unsupported("metadata", "revshare stores no responses, so it takes no 'metadata'")
        if self.tools:
            raise _unsupported("tools", "/v1/responses serves text only here; use /v1/chat/completions for tools")
        fmt = self.text.format if self.text is not None else None
        if fmt is not None and fmt.type == "json_schema" and fmt.name is None:
            raise WireError("text.format.name", "a json_schema format needs a name", "missing_required_parameter")
        return self

    @property
    def is_stream(self) -> bool:
        return bool(self.stream)

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_output_tokens

    @property
    def prompt(self) -> Any:
        """What the bound before the run sizes: instructions and input, as JSON."""
        return [self.instructions, self.model_dump(mode="json", include={"input"})]

    def engine_params(self) -> dict[str, Any]:
        """The chat completion this response runs as."""
        messages = [{"role": "system", "content": self.instructions}] if self.instructions else []
        if isinstance(self.input, str):
            messages.append({"role": "user", "content": self.input})
        else:
            for message in self.input:
                content = message.content if isinstance(message.content, str) else "\n".join(
                    part.text for part in message.content)
                messages.append({"role": message.role, "content": content})
        params: dict[str, Any] = {"messages": messages}
        for name, value in (("max_tokens", self.max_output_tokens), ("temperature", self.temperature),
                            ("top_p", self.top_p), ("user", self.user)):
            if value is not None:
                params[name] = value
        fmt = self.text.format if self.text is not None else None
        if fmt is not None and fmt.type == "json_object":
            params["response_format"] = {"type": "json_object"}
        elif fmt is not None and fmt.type == "json_schema":
            params["response_format"] = {"type": "json_schema", "json_schema": {
                "name": fmt.name, "schema": fmt.schema_ or {"type": "object"},
                **({"strict": fmt.strict} if fmt.strict is not None else {})}}
        return params


router = APIRouter(prefix="/v1", route_class=StrictJsonRoute)

_OK: dict[int | str, dict[str, Any]] = {200: {
    "description": "The response (`object: response`), or with `stream: true` its typed server-sent events",
    "content": {"application/json": {"schema": {"type": "object", "required": ["id", "object", "output"]}},
                "text/event-stream": {"schema": {  # one typed event (`api.responses_wire`)
                    "type": "object", "required": ["event", "data"],
                    "properties": {"event": {"type": "string"}, "data": {"type": "string"}}}}}}}


@router.post("/responses", summary="Create a response (OpenAI Responses API, stateless subset)",
             operation_id="createResponse", response_model=None, openapi_extra=CUSTOMER,
             responses={**_OK, **error_responses(400, 401, 402, 403, 404, 409, 413, 415, 422, 429, 502, 503)})
async def responses(
    request: Request, body: ResponsesRequest,
    key: Annotated[ApiKey, Depends(require_customer)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    if body.is_stream:
        if idempotency_key is not None:
            raise ApiError(400, "Idempotency-Key is not supported with stream: true on /v1/responses (a replayed "
                                "stream would not end as a Responses stream); send the request whole to use it, or "
                                "retry the stream without the key", code="unsupported_parameter",
                           param="Idempotency-Key")
        return await serve(request, key, body, "responses", None, ResponsesWire(body))
    return await serve(request, key, body, "responses", idempotency_key, OPENAI_WIRE,
                       lambda chat: response_object(chat, body))
