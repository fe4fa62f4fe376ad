"""OpenAI-compatible routes: thin maps from HTTP to the serving core and back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from revshare.api.auth import gateway_of, require_customer
from revshare.api.disconnect import ClientGone, cancel_on_disconnect
from revshare.api.end_users import end_users_of
from revshare.api.errors import ApiError, error_responses
from revshare.api.limits import json_body
from revshare.api.openapi import CHAT_OK, COMPLETION_OK, CUSTOMER, ok_response
from revshare.api.protocol import ChatCompletionRequest, CompletionRequest
from revshare.api.sse import OPENAI_WIRE, EventStream, WireJSONResponse, stream_trailer
from revshare.engines.base import Endpoint
from revshare.instants import utc_now
from revshare.ledger.store import ApiKey
from revshare.metering.admission import Ask
from revshare.serving.lease import IdempotencyConflict, body_hash, lease_request
from revshare.serving.replay import Replay, find_replay
from revshare.serving.run import RESPONSE_ID_PREFIX, Wire, run_complete, run_stream

__all__ = ["IDEMPOTENCY_KEY_MAX_CHARS", "IdempotencyKey", "ServedBody", "StrictJsonRoute", "router", "serve"]


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is parsed strictly (`api.limits.json_body`) before FastAPI sees it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            parsed = json_body(await request.body(), request.headers.get("content-type"))
            # FastAPI reads the body through Request.json(), which keeps what it parsed here:
            # one parse. (Were that cache renamed, FastAPI would parse the same valid JSON again.)
            request._json = parsed
            return await handler(request)

        return strict


router = APIRouter(prefix="/v1", route_class=StrictJsonRoute)

RECORD_HEADER = "x-revshare-record-id"
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request whose client left before the answer
REPLAY_HEADER = "idempotent-replayed"
IDEMPOTENCY_KEY_MAX_CHARS = 255
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                              max_length=IDEMPOTENCY_KEY_MAX_CHARS)]

_COMPLETION_ERRORS = error_responses(400, 401, 402, 403, 404, 409, 413, 415, 422, 429, 502, 503)

class ServedBody(Protocol):
    """What `serve` reads of a request body (chat, completion, embeddings, responses)."""

    model: str
    user: str | None

    @property
    def is_stream(self) -> bool: ...
    @property
    def wants_usage_chunk(self) -> bool: ...
    @property
    def requested_max_tokens(self) -> int | None: ...
    def engine_params(self) -> dict[str, Any]: ...
    def model_dump(self, *, mode: str, exclude_unset: bool) -> dict[str, Any]: ...



def _check_kind(request: Request, key: ApiKey, model_id: str, endpoint: Endpoint) -> None:
    """A chat model on /v1/embeddings, or an embedding model elsewhere: 400 naming `model`."""
    gateway = gateway_of(request)
    model = gateway.catalog.model(model_id)
    customer = gateway.directory.customer(key.customer)
    if model is None or customer is None or not customer.may_use(model.id):
        return  # admission answers these (404, 403)
    wanted = "embedding" if endpoint == "embeddings" else "chat"
    if model.kind != wanted:
        route = "POST /v1/embeddings" if model.kind == "embedding" else "chat or completions"
        raise ApiError(400, f"the model {model.id!r} is an {model.kind} model: use it with {route}",
                       code="invalid_value", param="model")


async def serve(request: Request, key: ApiKey, body: ServedBody, endpoint: Endpoint, idempotency_key: str | None,
                wire: Wire = OPENAI_WIRE, reshape: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Any:
    """Admit, run and meter one request; answer its body (`reshape`d, when given), its stream or its replay."""
    _check_kind(request, key, body.model, endpoint)
    gateway = gateway_of(request)
    end_users = end_users_of(request)
    ask = Ask(key.customer, key.key_id, body.model, endpoint, body.is_stream, body.requested_max_tokens,
              idempotency_key, end_users.hash(key.customer, body.user) if end_users is not None else "")
    digest = None
    if idempotency_key is not None:
        digest = body_hash(endpoint, body.model_dump(mode="json", exclude_unset=True))
    try:
        lease = await lease_request(gateway, ask, body, digest)
    except IdempotencyConflict:
        assert idempotency_key is not None and digest is not None
        replay = await find_replay(gateway, key.customer, idempotency_key, digest)
        return _replayed(replay, body.is_stream, body.wants_usage_chunk, body.model, reshape)
    headers = {RECORD_HEADER: lease.admitted.record_id}
    if end_users is not None:
        end_users.observe(lease.admitted)
    params = body.engine_params()
    try:
        # Until the first byte is sent, only this notices a client that left (a stream's response
        # watches for it from then on): the engine is stopped, the request recorded client_disconnect.
        async with cancel_on_disconnect(request.receive):
            if body.is_stream:
                events = await run_stream(gateway, lease, params, wire, body.wants_usage_chunk)
            else:
                data = await run_complete(gateway, lease, params, wire)
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST, headers=headers)  # read by the access log only
    if body.is_stream:
        headers.update({"cache-control": "no-cache", "x-accel-buffering": "no"})
        return EventStream(events, headers)
    return WireJSONResponse(reshape(data) if reshape is not None else data, headers=headers)


def _replayed(replay: Replay, is_stream: bool, wants_usage_chunk: bool, model: str,
              reshape: Callable[[dict[str, Any]], dict[str, Any]] | None) -> Response:
    """The first response again, byte for byte; a stream gets its trailer rebuilt from the record.
    What is kept of a whole answer is the engine's body: `reshape`d again as the first was."""
    headers = {RECORD_HEADER: replay.record_id, REPLAY_HEADER: "true"}
    if reshape is not None and not is_stream and replay.status == 200:
        return JSONResponse(reshape(json.loads(replay.response)), headers=headers)
    if not is_stream or replay.status != 200:
        return Response(replay.response, status_code=replay.status, media_type="application/json", headers=headers)
    record = replay.record
    usage: dict[str, Any] | None = None
    if wants_usage_chunk and record is not None:
        usage = {"prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
                 "total_tokens": record.total_tokens}
        if record.cached_tokens:  # as the first stream's usage chunk said (an engine's zero is not kept)
            usage["prompt_tokens_details"] = {"cached_tokens": record.cached_tokens}
    endpoint = record.endpoint if record is not None else "chat.completions"
    trailer = stream_trailer(endpoint, RESPONSE_ID_PREFIX[endpoint] + replay.record_id, model, replay.record_id,
                             record.seq if record is not None else None, usage, int(time.time()))
    headers["cache-control"] = "no-cache"
    return Response(replay.response.encode() + trailer, media_type="text/event-stream", headers=headers)


@router.post("/chat/completions", summary="Create a chat completion (OpenAI-compatible)",
             operation_id="createChatCompletion", response_model=None, openapi_extra=CUSTOMER,
             responses={**CHAT_OK, **_COMPLETION_ERRORS})
async def chat_completions(
    request: Request, body: ChatCompletionRequest,
    key: Annotated[ApiKey, Depends(require_customer)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return await serve(request, key, body, "chat.completions", idempotency_key)


@router.post("/completions", summary="Create a text completion (OpenAI-compatible, legacy)",
             operation_id="createCompletion", response_model=None, openapi_extra=CUSTOMER,
             responses={**COMPLETION_OK, **_COMPLETION_ERRORS})
async def completions(
    request: Request, body: CompletionRequest,
    key: Annotated[ApiKey, Depends(require_customer)],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return await serve(request, key, body, "completions", idempotency_key)


@router.get("/models", summary="List the models this key may use", operation_id="listModels",
            response_model=None, openapi_extra=CUSTOMER,
            responses={**ok_response("ModelList", description="The models"), **error_responses(401, 503)})
async def list_models(request: Request, key: Annotated[ApiKey, Depends(require_customer)]) -> dict[str, Any]:
    gateway = gateway_of(request)
    catalog = gateway.catalog
    directory = gateway.directory
    customer = directory.customer(key.customer)
    created = int(time.time())
    now = utc_now()

    def licences(model_id: str) -> list[dict[str, Any]]:
        # The terms passed on to the customer (docs/LICENSING.md), as `api.terms_routes.terms_json`
        # shows them (that module imports this one), and where the customer stands with each.
        return [{"id": t.id, "name": t.name, "version": t.version, "url": t.url, "use_policy_url": t.use_policy_url,
                 "attribution": t.attribution or None, "acceptance_required": t.acceptance_required,
                 "status": t.standing(directory.accepted_versions(key.customer, t.id), now)}
                for t in catalog.licence_chain(model_id)]

    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": created, "owned_by": m.licensor or "host",
             "licences": licences(m.id)}
            for m in catalog.models
            if customer is not None and customer.may_use(m.id)
        ],
    }
