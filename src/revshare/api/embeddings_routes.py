"""POST /v1/embeddings: OpenAI's embeddings, metered and priced per input token like any request.

The request is checked as OpenAI checks it (strict types, unknown fields refused): `input` a
non-empty string, a list of 1 to 2048 non-empty strings, a list of token ids, or a list of such
lists; `encoding_format` `float` or `base64`; `dimensions` from 1; `user`. What a model cannot do
(token ids on the embedded engine, a `dimensions` other than the model's) is refused by its engine
with a 400 naming the parameter. The record's endpoint is `embeddings`, its completion tokens 0.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from revshare.api.auth import require_customer
from revshare.api.errors import error_responses
from revshare.api.openai_routes import IdempotencyKey, StrictJsonRoute, serve
from revshare.api.openapi import CUSTOMER
from revshare.ledger.store import ApiKey

__all__ = ["MAX_INPUTS", "EmbeddingRequest", "router"]

MAX_INPUTS = 2048  # OpenAI's limit on inputs per request
_TokenId = Annotated[int, Field(ge=0, le=2**31 - 1)]
_Tokens = Annotated[list[_TokenId], Field(min_length=1)]
_Text = Annotated[str, Field(min_length=1)]


class EmbeddingRequest(BaseModel):
    """POST /v1/embeddings."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(min_length=1, max_length=256)
    input: (_Text | Annotated[list[_Text], Field(min_length=1, max_length=MAX_INPUTS)] | _Tokens
            | Annotated[list[_Tokens], Field(min_length=1, max_length=MAX_INPUTS)])
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(ge=1)] | None = None
    user: str | None = Field(default=None, max_length=256)

    is_stream: ClassVar[bool] = False
    wants_usage_chunk: ClassVar[bool] = False
    # An embedding produces no completion tokens: the bound before the run reserves one.
    requested_max_tokens: ClassVar[int] = 1

    @property
    def prompt(self) -> Any:
        """What the bound before the run sizes (its UTF-8 bytes, as for a prompt)."""
        return self.input

    def engine_params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"model"})


router = APIRouter(prefix="/v1", route_class=StrictJsonRoute)

_OK: dict[int | str, dict[str, Any]] = {200: {
    "description": "The embeddings (`object: list`, `data`, `model`, `usage`)",
    "content": {"application/json": {"schema": {"type": "object", "required": ["object", "data", "usage"]}}}}}


@router.post("/embeddings", summary="Create embeddings (OpenAI-compatible)", operation_id="createEmbedding",
             response_model=None, openapi_extra=CUSTOMER,
             responses={**_OK, **error_responses(400, 401, 402, 403, 404, 409, 413, 415, 422, 429, 502, 503)})
async def embeddings(
    request: Request, body: EmbeddingRequest,
    key: Annotated[ApiKey, Depends(require_customer)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return await serve(request, key, body, "embeddings", idempotency_key)
