"""The two hot routes, `POST /v1/chat/completions` and `POST /v1/completions`, served without
FastAPI's routing and dependency machinery, for a request that is in order.

FastAPI answers everything else, and every request this lane finds anything wrong with: the body
read here is handed back to it as it came, so a refusal (415, 400 naming the parameter, 401,
403) is the app's own, word for word, and costs only what it would have. A request in order is
checked exactly as the app checks it (the same strict JSON parse, the same pydantic model, the
same key lookup) and then goes to the same `serve` the app's routes call, whose errors the app's
handlers answer (`api.errors.known_error_response`).

Why: at one client, the layers above a route and FastAPI at the route were 42% of the event
loop's time per request (about 300 µs; docs/BENCHMARKS.md, "Against LiteLLM"). The OpenAPI
document still describes these routes from the app's own route table, where they stay.

Sits inside `api.edge.Edge` (which times and counts it: this lane puts the app's route in the
scope, as the router would) and outside Starlette's exception and routing layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from revshare.api.auth import bearer_value, customer_key, gateway_of
from revshare.api.edge import replay_body
from revshare.api.errors import ApiError, known_error_response
from revshare.api.limits import is_json, json_body
from revshare.api.openai_routes import IDEMPOTENCY_KEY_MAX_CHARS, serve
from revshare.api.protocol import ChatCompletionRequest, CompletionRequest
from revshare.engines.base import Endpoint
from revshare.ledger.store import ApiKey

__all__ = ["FastLane", "RouteTemplate"]



@dataclass(frozen=True, slots=True)
class RouteTemplate:
    """What `Edge` reads of the route that served a request (`scope["route"]`): its template."""

    path: str


@dataclass(frozen=True, slots=True)
class _Lane:
    route: RouteTemplate
    model: type[ChatCompletionRequest] | type[CompletionRequest]
    endpoint: Endpoint


# (the app's route name, its body, its endpoint)
_LANES: tuple[tuple[str, type[ChatCompletionRequest] | type[CompletionRequest], Endpoint], ...] = (
    ("chat_completions", ChatCompletionRequest, "chat.completions"),
    ("completions", CompletionRequest, "completions"),
)


class FastLane:
    """Serves a well-formed, authenticated request to a hot route; hands anything else to `app`."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self._lanes: dict[str, _Lane] = {}
        for name, model, endpoint in _LANES:
            path = fastapi.url_path_for(name)  # the app's own route: its template, and proof it exists
            self._lanes[path] = _Lane(RouteTemplate(path), model, endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self._lanes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if lane is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        request = await self._admit(lane, scope, body, receive)
        if request is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        parsed, key, idempotency_key, starlette_request = request
        scope["route"] = lane.route
        try:
            response = await serve(starlette_request, key, parsed, lane.endpoint, idempotency_key)
        except Exception as exc:
            response = known_error_response(exc)
            if response is None:
                raise  # a bug: `Edge` logs it and answers 500
        await response(scope, receive, send)

    async def _admit(self, lane: _Lane, scope: Scope, body: bytes, receive: Receive) -> tuple[
            ChatCompletionRequest | CompletionRequest, ApiKey, str | None, Request] | None:
        """The request's body, key and Idempotency-Key, when every check passes; else None."""
        content_type = authorization = idempotency_key = None
        for name, value in scope["headers"]:
            # The first of each, as Starlette's `Headers.get` reads them.
            if name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key" and idempotency_key is None:
                idempotency_key = value.decode("latin-1")
        if not is_json(content_type) or (idempotency_key is not None
                                         and not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX_CHARS):
            return None
        try:
            parsed = lane.model.model_validate(json_body(body, content_type))
        except (ApiError, ValidationError):
            return None
        request = Request(scope, receive)
        try:
            key = await customer_key(gateway_of(request), bearer_value(authorization))
        except Exception:  # refused, or a ledger that cannot be read: the app answers it, in its words
            return None
        return parsed, key, idempotency_key, request


async def _read_body(receive: Receive) -> bytes:
    """The whole body (`Edge` bounded its size already). A client that leaves first is
    `ClientDisconnect`, as Starlette's own read raises it (`Edge` then counts no route)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks) if len(chunks) != 1 else chunks[0]

