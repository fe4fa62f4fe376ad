"""What `/openapi.json` says beyond what FastAPI infers from the routes.

    ok_response    a route's 200: its media types (JSON, `text/event-stream`, `text/plain`), schema
                   (a name in `SCHEMAS`), headers and links; `CHAT_OK` and the others are the routes'
    SECURITY_SCHEMES  bearer schemes: customer API keys, the admin token, licensor tokens, and the
                   metrics token when `server.metrics_token_env` is set; each route names the ones
                   it takes (`CUSTOMER`, `ADMIN`, `LOG_READER`, `RECEIPT_READER`, `PUBLIC`)
    links          a completion's record and the admin API's records lead to their receipt, a
                   receipt and a proof to the log's other proofs and leaves (what a stateful fuzzer
                   follows)
    finish_openapi the document's last touches: the components above, the errors every route can
                   answer, and FastAPI's 422 dropped where validation answers 400

The schemas are plain JSON Schema, read by clients and fuzzers only: the routes return
engine-shaped dicts, and nothing on the request path validates a response.
"""

from __future__ import annotations

from typing import Any

from revshare.api.errors import ERROR_SCHEMA, error_responses
from revshare.api.openapi_parts import BOOL as _BOOL
from revshare.api.openapi_parts import INSTANT as _INSTANT
from revshare.api.openapi_parts import INT as _INT
from revshare.api.openapi_parts import OPT_STR as _OPT_STR
from revshare.api.openapi_parts import STR as _STR
from revshare.api.openapi_parts import Schema
from revshare.api.openapi_parts import object_schema as _object
from revshare.api.openapi_terms import TERMS_SCHEMAS
from revshare.records.projection import PROJECTION_VERSION
from revshare.tlog.receipt import RECEIPT_FORMAT

__all__ = ["ADMIN", "CHAT_OK", "COMPLETION_OK", "CUSTOMER", "INCLUSION_OK", "LEAVES_OK", "LOG_READER", "PUBLIC",
           "RECEIPT_OK", "RECEIPT_READER", "RECORDS_OK", "SCHEMAS", "SECURITY_SCHEMES", "finish_openapi",
           "ok_response"]


# Security -------------------------------------------------------------------------------------

SECURITY_SCHEMES: dict[str, Schema] = {
    "apiKey": {"type": "http", "scheme": "bearer", "description": "A customer's API key (`rsk_…`)"},
    "adminToken": {"type": "http", "scheme": "bearer",
                   "description": "The operator's admin token (`server.admin_token_env`)"},
    "licensorToken": {"type": "http", "scheme": "bearer",
                      "description": "A licensor's read token (`rsl_…`): that licensor's log only"},
}
_METRICS_SCHEME: Schema = {"type": "http", "scheme": "bearer",
                           "description": "The metrics token (`server.metrics_token_env`)"}

# `openapi_extra` of a route: which credentials it takes (one of the listed schemes).
CUSTOMER: Schema = {"security": [{"apiKey": []}]}
ADMIN: Schema = {"security": [{"adminToken": []}]}
LOG_READER: Schema = {"security": [{"licensorToken": []}, {"adminToken": []}]}
RECEIPT_READER: Schema = {"security": [{"apiKey": []}, {"adminToken": []}]}
PUBLIC: Schema = {"security": []}

# Schemas --------------------------------------------------------------------------------------


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


_AMOUNT = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "description": "a decimal amount, as text"}
_B64 = {"type": "string", "contentEncoding": "base64"}
_ENDPOINT = {"type": "string", "enum": ["chat.completions", "completions", "embeddings", "responses"]}
_OUTCOME = {"type": "string", "enum": ["ok", "client_disconnect", "engine_error", "rejected"]}

_USAGE = _object(["prompt_tokens", "completion_tokens", "total_tokens"], {
    "prompt_tokens": _INT, "completion_tokens": _INT, "total_tokens": _INT,
    "prompt_tokens_details": _object(["cached_tokens"], {"cached_tokens": _INT}),
}, description="The tokens metered for the request's record (the gateway's count, not the engine's text)")
_FINISH = {"type": ["string", "null"]}
_CHAT_MESSAGE = _object(["role"], {"role": _STR, "content": _OPT_STR, "refusal": _OPT_STR,
                                   "tool_calls": {"type": ["array", "null"], "items": {"type": "object"}}})


_OPT_INT = {"type": ["integer", "null"], "minimum": 1}
_LIMITS = _object(
    ["requests_per_minute", "tokens_per_minute", "max_concurrent", "budget", "budget_period"],
    {"requests_per_minute": _OPT_INT, "tokens_per_minute": _OPT_INT, "max_concurrent": _OPT_INT,
     "budget": {"anyOf": [_AMOUNT, {"type": "null"}]},
     "budget_period": {"type": "string", "enum": ["day", "month", "total"]}},
    closed=True, description="Limits and a budget (in the price currency) per budget_period; null: none")
_CUSTOMER = _object(
    ["name", "models", "description", *_LIMITS["required"], "source", "suspended_at", "created_at", "updated_at"],
    {"name": _STR, "models": {"type": "array", "items": _STR}, "description": _STR, **_LIMITS["properties"],
     "source": {"type": "string", "enum": ["catalog", "api"],
                "description": "`catalog`: written in revshare.toml, which wins; edit it there"},
     "suspended_at": {"type": ["string", "null"], "format": "date-time"}, "created_at": _INSTANT,
     "updated_at": _INSTANT},
    closed=True, description="A customer, the models (globs) it may call, its limits and budget")
_API_KEY = _object(
    ["key_id", "customer", "label", "created_at", "revoked_at", "limits"],
    {"key_id": _STR, "customer": _STR, "label": _STR, "created_at": _INSTANT,
     "revoked_at": {"type": ["string", "null"], "format": "date-time"},
     "limits": {"anyOf": [_ref("Limits"), {"type": "null"}],
                "description": "this key's own limits, on top of its customer's; null: only the customer's"}},
    closed=True, description="An API key (never its secret)")


def _response(prefix: str, choice: Schema, description: str) -> Schema:
    return _object(["id", "object", "created", "model", "choices", "usage"], {
        "id": {"type": "string", "pattern": f"^{prefix}", "description": f"`{prefix}` + the record id"},
        "object": _STR, "created": {"type": "integer"}, "model": _STR,
        "choices": {"type": "array", "items": choice}, "usage": _USAGE,
    }, description=description)


def _chunk(prefix: str, choice: Schema) -> Schema:
    return _object(["id", "object", "created", "model", "choices"], {
        "id": {"type": "string", "pattern": f"^{prefix}"}, "object": _STR, "created": {"type": "integer"},
        "model": _STR, "choices": {"type": "array", "items": choice},
        "usage": _USAGE,
        "revshare": _object(["record_id", "seq"], {"record_id": _STR, "seq": {"type": ["integer", "null"]}},
                            description="On the usage chunk: the request's record and its ledger seq"),
    }, description="One stream event; the usage chunk (`stream_options.include_usage`) has no choices")


_RECORD = _object(
    ["id", "seq", "customer", "key_id", "model", "licensors", "engine", "endpoint", "stream", "prompt_tokens",
     "completion_tokens", "cached_tokens", "estimated", "outcome", "price_version", "amount", "currency",
     "error_code", "started_at", "ended_at", "idempotency_key", "end_user"],
    {"id": _STR, "seq": {"type": ["integer", "null"], "minimum": 1}, "idempotency_key": _OPT_STR,
     "started_at": _INSTANT, "ended_at": _INSTANT, "customer": _STR, "key_id": _STR, "model": _STR,
     "licensors": {"type": "array", "items": _STR}, "engine": _STR, "endpoint": _ENDPOINT, "stream": _BOOL,
     "prompt_tokens": _INT, "completion_tokens": _INT, "cached_tokens": _INT, "estimated": _BOOL,
     "outcome": _OUTCOME, "price_version": _STR, "amount": _AMOUNT, "currency": _STR, "error_code": _STR,
     "end_user": {"type": "string", "description": "keyed hash of the request's `user`, \"\" without one"}},
    closed=True, description="A usage record, as the ledger holds it")

_PROJECTION = _object(
    ["amount", "cached_tokens", "completion_tokens", "currency", "customer", "ended_at", "endpoint", "estimated",
     "key", "licensors", "model", "outcome", "price_version", "prompt_tokens", "record_id", "seq", "started_at",
     "stream", "v"],
    {"amount": _AMOUNT, "cached_tokens": _INT, "completion_tokens": _INT, "currency": _STR,
     "customer": {"type": "string", "description": "the customer's pseudonym in this host's logs"},
     "ended_at": _INSTANT, "endpoint": _ENDPOINT, "estimated": _BOOL,
     "key": {"type": "string", "description": "the API key's pseudonym"},
     "licensors": {"type": "array", "items": _STR}, "model": _STR, "outcome": _OUTCOME, "price_version": _STR,
     "prompt_tokens": _INT, "record_id": _STR, "seq": {"type": "integer", "minimum": 1}, "started_at": _INSTANT,
     "stream": _BOOL, "v": {"const": PROJECTION_VERSION}},
    closed=True, description="A record's log leaf: the JSON object whose RFC 8785 bytes are hashed")

SCHEMAS: dict[str, Schema] = {
    "Error": ERROR_SCHEMA,
    "Usage": _USAGE,
    "ChatCompletion": _response("chatcmpl-", _object(["index", "message", "finish_reason"], {
        "index": _INT, "message": _CHAT_MESSAGE, "finish_reason": _FINISH}), "A whole chat completion"),
    "Completion": _response("cmpl-", _object(["index", "text", "finish_reason"], {
        "index": _INT, "text": _STR, "finish_reason": _FINISH}), "A whole text completion"),
    "ChatCompletionChunk": _chunk("chatcmpl-", _object(["index", "delta"], {
        "index": _INT, "delta": {"type": "object"}, "finish_reason": _FINISH})),
    "CompletionChunk": _chunk("cmpl-", _object(["index", "text"], {
        "index": _INT, "text": _STR, "finish_reason": _FINISH})),
    "UsageRecord": _RECORD,
    "Records": _object(["data", "next_after_seq"], {"data": {"type": "array", "items": _ref("UsageRecord")},
                                                    "next_after_seq": _INT}, closed=True),
    "LeafProjection": _PROJECTION,
    "Receipt": _object(["format", "record", "index", "proof", "checkpoint"], {
        "format": {"const": RECEIPT_FORMAT}, "record": _ref("LeafProjection"), "index": _INT,
        "proof": {"type": "array", "items": _B64, "description": "inclusion proof hashes, leaf to root"},
        "checkpoint": {"type": "string", "description": "the signed checkpoint (C2SP signed note) the proof leads to"},
    }, closed=True, description="Everything needed to check one record offline (`revshare verify receipt`)"),
    "ModelList": _object(["object", "data"], {"object": {"const": "list"}, "data": {"type": "array", "items": _object(
        ["id", "object", "created", "owned_by", "licences"],
        {"id": _STR, "object": {"const": "model"}, "created": {"type": "integer"}, "owned_by": _STR,
         "licences": {"type": "array", "items": _ref("ModelLicence"),
                      "description": "the licence terms binding the model, its own first, then its base "
                                     "model's (docs/LICENSING.md)"}})}}),
    **TERMS_SCHEMAS,
    "UsageReport": _object(["object", "granularity", "group_by", "timezone", "start", "end", "as_of_seq", "data"], {
        "object": {"const": "usage"}, "granularity": {"type": "string", "enum": ["hour", "day"]},
        "group_by": {"type": ["string", "null"], "enum": ["model", "customer", "key", "outcome", None]},
        "timezone": {"const": "UTC"}, "start": _INSTANT, "end": _INSTANT,
        "as_of_seq": {"type": "integer", "minimum": 0,
                      "description": "the figures hold every record up to this ledger seq, and no other"},
        "data": {"type": "array", "items": _object(
            ["period_start", "group", "currency", "requests", "prompt_tokens", "completion_tokens", "cached_tokens",
             "amount"],
            {"period_start": _INSTANT, "group": _OPT_STR, "currency": _STR, "requests": _INT, "prompt_tokens": _INT,
             "completion_tokens": _INT, "cached_tokens": _INT, "amount": _AMOUNT}, closed=True)}}, closed=True),
    "Billing": _object(["object", "period", "timezone", "as_of_seq", "data"], {
        "object": {"const": "billing"}, "period": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
        "timezone": {"const": "UTC"}, "as_of_seq": _INT,
        "data": {"type": "array", "items": _object(
            ["customer", "currency", "requests", "subtotal", "credits", "total_due"],
            {"customer": _STR, "currency": _STR, "requests": _INT, "subtotal": _AMOUNT, "credits": _AMOUNT,
             "total_due": _AMOUNT}, closed=True)}}, closed=True,
        description="Invoice figures by the invoice's own rules (one rounding per line, late usage, credits)"),
    "Periods": _object(["data"], {"data": {"type": "array", "items": _object(
        ["period", "closed_at", "cutoff", "last_seq", "early", "settled"],
        {"period": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}, "closed_at": _INSTANT, "cutoff": _INSTANT,
         "last_seq": _INT, "early": _BOOL, "settled": _BOOL}, closed=True)}}, closed=True),
    "Documents": _object(["data"], {"data": {"type": "array", "items": _object(
        ["period", "kind", "name", "number", "sha256", "for"],
        {"period": _STR, "kind": {"type": "string", "enum": ["statement", "invoice"]}, "name": _STR, "number": _STR,
         "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
         "for": {"type": "string", "description": "the invoice's customer, or the statement's licensor"}},
        closed=True)}}, closed=True),
    "Limits": _LIMITS,
    "Customer": _CUSTOMER,
    "Customers": _object(["data"], {"data": {"type": "array", "items": _ref("Customer")}}, closed=True),
    "ApiKey": _API_KEY,
    "ApiKeys": _object(["data"], {"data": {"type": "array", "items": _ref("ApiKey")}}, closed=True),
    "NewApiKey": _object([*_API_KEY["required"], "secret"], {
        **_API_KEY["properties"], "secret": {"type": "string", "pattern": "^rsk_",
                                             "description": "the key itself: shown this once, only its hash is kept"}},
        closed=True, description="A key just created, with its secret"),
    "AuditEvents": _object(["data", "next_after_seq"], {"data": {"type": "array", "items": _object(
        ["seq", "at", "actor", "via", "action", "subject", "customer", "detail"],
        {"seq": {"type": "integer", "minimum": 1}, "at": _INSTANT, "actor": _STR,
         "via": {"type": "string", "enum": ["api", "console", "cli", "catalog", "serve"]}, "action": _STR,
         "subject": _STR, "customer": _STR,
         "detail": _object(["before", "after"], {"before": {}, "after": {}}, closed=True)},
        closed=True)}, "next_after_seq": _INT}, closed=True),
    "InclusionProof": _object(["log_id", "seq", "index", "size", "leaf", "proof"], {
        "log_id": _STR, "seq": {"type": "integer", "minimum": 1}, "index": _INT, "size": {"type": "integer"},
        "leaf": {"type": "string", "description": "the leaf's bytes (RFC 8785 JSON text)"},
        "proof": {"type": "array", "items": _B64}}, closed=True),
    "ConsistencyProof": _object(["log_id", "old", "new", "proof"], {
        "log_id": _STR, "old": {"type": "integer", "minimum": 1}, "new": {"type": "integer", "minimum": 1},
        "proof": {"type": "array", "items": _B64}}, closed=True),
    "Leaves": _object(["log_id", "origin", "start", "end", "leaves"], {
        "log_id": _STR, "origin": _STR, "start": _INT, "end": _INT, "leaves": {"type": "array", "items": _object(
            ["index", "seq", "data"], {"index": _INT, "seq": {"type": "integer", "minimum": 1}, "data": _STR},
            closed=True)}}, closed=True),
    "Health": _object(["status", "version", "models", "records_appended", "ledger", "ledger_backlog"], {
        "status": {"const": "ok"}, "version": _STR, "models": {"type": "array", "items": _STR},
        "records_appended": _INT, "ledger": {"enum": ["ok", "unavailable"]}, "ledger_backlog": _INT}),
}


def _sse(chunk: str) -> Schema:
    """One event of a completion stream (schemathesis and OpenAPI 3.1 tools read `schema` per event):
    a chunk or an error as JSON, then `[DONE]`. The record's name rides in an SSE comment."""
    return {"schema": _object(["data"], {"data": {
        "type": "string",
        "if": {"const": "[DONE]"},
        "else": {"contentMediaType": "application/json",
                 "contentSchema": {"anyOf": [_ref(chunk), _ref("Error")]}},
    }}, description=f"Each event: `data: ` and a `{chunk}`, an error (the stream failed after it began, "
                    "HTTP status 200 already sent), or `[DONE]`")}


_RECORD_HEADER = {"x-revshare-record-id": {"required": True, "schema": _STR,
                                           "description": "The request's usage record (a receipt's `record_id`)"}}


def _links(**links: tuple[str, dict[str, str]]) -> dict[str, Schema]:
    return {name: {"operationId": op, "parameters": params} for name, (op, params) in links.items()}


_COMPLETION_LINKS = _links(GetReceipt=("getReceipt", {"path.record_id": "$response.header.x-revshare-record-id"}))


def ok_response(schema: str, *, description: str, stream: str | None = None, text: str | None = None,
                headers: dict[str, Schema] | None = None,
                links: dict[str, Schema] | None = None) -> dict[int | str, Any]:
    """`responses=` entry of a route's 200: JSON of `schema` (a name in SCHEMAS), with `stream` (a chunk
    schema: also `text/event-stream`) or `text` (also `text/plain`, described so) as its other forms."""
    content: Schema = {"application/json": {"schema": _ref(schema)}}
    if stream is not None:
        content["text/event-stream"] = _sse(stream)
    if text is not None:
        content["text/plain"] = {"schema": {"type": "string", "description": text}}
    response: Schema = {"description": description, "content": content}
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return {200: response}


CHAT_OK = ok_response("ChatCompletion", stream="ChatCompletionChunk", headers=_RECORD_HEADER,
                      links=_COMPLETION_LINKS,
                      description="The completion (`application/json`), or its events with `\"stream\": true`")
COMPLETION_OK = ok_response("Completion", stream="CompletionChunk", headers=_RECORD_HEADER,
                            links=_COMPLETION_LINKS,
                            description="The completion (`application/json`), or its events with `\"stream\": true`")
RECEIPT_OK = ok_response(
    "Receipt", text="C2SP tlog-proof text (`format=tlog-proof`)", description="The record's receipt",
    links=_links(GetInclusionProof=("getInclusionProof", {"path.log_id": "$response.body#/record/licensors/0",
                                                          "query.seq": "$response.body#/record/seq"})))
RECORDS_OK = ok_response("Records", description="Records in ledger order", links=_links(
    NextPage=("listRecords", {"query.after_seq": "$response.body#/next_after_seq"}),
    GetReceipt=("getReceipt", {"path.record_id": "$response.body#/data/0/id"}),
    GetInclusionProof=("getInclusionProof", {"path.log_id": "$response.body#/data/0/licensors/0",
                                             "query.record_id": "$response.body#/data/0/id"})))
INCLUSION_OK = ok_response("InclusionProof", description="The proof", links=_links(
    GetConsistencyProof=("getConsistencyProof", {"path.log_id": "$response.body#/log_id",
                                                 "query.old": "$response.body#/size"}),
    GetLeaves=("getLeaves", {"path.log_id": "$response.body#/log_id", "query.start": "$response.body#/index"})))
LEAVES_OK = ok_response("Leaves", description="The leaves", links=_links(
    GetInclusionProof=("getInclusionProof", {"path.log_id": "$response.body#/log_id",
                                             "query.seq": "$response.body#/leaves/0/seq"})))

# The document ---------------------------------------------------------------------------------

# Every route can answer these (auth, a malformed request, body size, the ledger).
_COMMON = {str(k): v for k, v in error_responses(400, 401, 403, 404, 413, 503).items()}
_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def finish_openapi(spec: dict[str, Any], *, metrics_token: bool) -> dict[str, Any]:
    """Add the components and the common errors to FastAPI's document; return it."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {}).update(SCHEMAS)
    schemes = dict(SECURITY_SCHEMES)
    if metrics_token:
        schemes["metricsToken"] = _METRICS_SCHEME
    components["securitySchemes"] = schemes
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            responses = {**_COMMON, **operation.get("responses", {})}
            # FastAPI declares a 422 for every route with parameters; validation answers 400 here.
            unprocessable = responses.get("422", {}).get("content", {}).get("application/json", {})
            if unprocessable.get("schema", {}).get("$ref") == _VALIDATION_REF:
                del responses["422"]
            operation["responses"] = responses
            if path == "/metrics":
                operation["security"] = [{"metricsToken": []}] if metrics_token else []
    for unused in ("HTTPValidationError", "ValidationError"):  # in this order: the first refers to the second
        if not _referenced(spec, unused):
            components["schemas"].pop(unused, None)
    return spec


def _referenced(spec: dict[str, Any], name: str) -> bool:
    target = f"#/components/schemas/{name}"
    stack: list[Any] = [spec["paths"]] + [v for k, v in spec["components"]["schemas"].items() if k != name]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("$ref") == target:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
