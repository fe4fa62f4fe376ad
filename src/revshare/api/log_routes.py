"""Log and receipt routes: thin maps from HTTP to `LogService` / `LogReader` and back.

    GET /v1/log/vkey                                  public: the host's verifier key (C2SP vkey)
    GET /v1/log/{log}/checkpoint                      that log's licensor, or admin: signed note, cosigned
    GET /v1/log/{log}/proof/inclusion?seq=|record_id= that log's licensor, or admin
    GET /v1/log/{log}/proof/consistency?old=&new=     that log's licensor, or admin
    GET /v1/log/{log}/leaves?start=&end=              that log's licensor, or admin
    GET /v1/receipts/{record_id}[?log=&format=]       the record's customer (its API key), or admin

A licensor token reading another licensor's log gets 403; a customer key on a log route
gets 403; a customer asking for another customer's receipt gets 404 (as if it did not exist).

The checkpoint, and a receipt's, is the host's signed note followed by the cosignature/v1 lines of
the witnesses that cosigned it (C2SP tlog-cosignature): one signed note, as C2SP clients read it;
a verifier that knows no witness skips those lines (`logstore.cosignatures`).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import bearer, gateway_of, log_service_of
from revshare.api.errors import ApiError, error_responses
from revshare.api.limits import single_query_values
from revshare.api.openapi import (
    INCLUSION_OK,
    LEAVES_OK,
    LOG_READER,
    PUBLIC,
    RECEIPT_OK,
    RECEIPT_READER,
    ok_response,
)
from revshare.api.protocol import INT64_MAX
from revshare.logstore.integrator import IntegrationError
from revshare.logstore.licensor_tokens import find_token
from revshare.logstore.service import LogService
from revshare.logstore.tree_store import LogReadError, NotYetIntegratedError, UnknownLogError
from revshare.records.record import UsageRecord

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["log"], dependencies=[Depends(single_query_values)])

MAX_LEAVES = 10_000
SHORT_CACHE = "private, max-age=5"
"""Cache-Control of what changes as the log grows: the checkpoint, and partial tiles (`tiles_routes`)."""
T = TypeVar("T")
# Sizes, indexes and seqs are SQL BIGINTs: a larger number is a 400 naming it, never an overflow.
Positive = Annotated[int, Query(ge=1, le=INT64_MAX)]
NonNegative = Annotated[int, Query(ge=0, le=INT64_MAX)]
# What a log read can answer besides its 200 (`_mapped`); 409 while a record waits for the log.
_LOG_ERRORS = error_responses(401, 403, 404, 409, 503)


def service_of(request: Request) -> LogService:
    service = log_service_of(request)
    if service is None:
        raise RuntimeError("the log service has not started: the app's lifespan did not run")
    return service


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@contextmanager
def _mapped() -> Iterator[None]:
    """Log errors become OpenAI-shaped HTTP errors, here and only here."""
    try:
        yield
    except UnknownLogError as exc:
        raise ApiError(404, str(exc), code="log_not_found") from exc
    except NotYetIntegratedError as exc:
        raise ApiError(409, f"{exc}; retry in a few seconds", code="not_yet_integrated") from exc
    except LogReadError as exc:
        raise ApiError(404, str(exc), code="not_in_log") from exc
    except IntegrationError as exc:
        raise ApiError(503, f"the log refuses to integrate: {exc}", code="log_unavailable") from exc


async def _read(fn: Callable[..., T], *args: Any) -> T:
    with _mapped():
        return await run_in_threadpool(fn, *args)


async def require_log_reader(request: Request, log_id: str) -> None:
    """The admin token, or a licensor token of this log's licensor."""
    token = bearer(request)
    if token is None:
        raise ApiError(401, "send 'Authorization: Bearer <licensor token>'", code="missing_api_key")
    gateway = gateway_of(request)
    if gateway.admin_token and hmac.compare_digest(token.encode(), gateway.admin_token.encode()):
        return
    licensor = await run_in_threadpool(find_token, gateway.ledger, token)
    if licensor is not None:
        if licensor.licensor != log_id:
            raise ApiError(403, f"this token reads the log of licensor {licensor.licensor!r} only",
                           code="log_forbidden")
        return
    if await gateway.keys.lookup(token) is not None:
        raise ApiError(403, "a customer API key reads its own receipts only: GET /v1/receipts/{record_id}",
                       code="log_forbidden")
    raise ApiError(401, "incorrect licensor token provided", code="invalid_api_key")


LogReader = Annotated[None, Depends(require_log_reader)]


@router.get("/log/vkey", summary="The host's verifier key (C2SP vkey), public", operation_id="getVerifierKey",
            response_class=PlainTextResponse, openapi_extra=PUBLIC)
async def vkey(request: Request) -> str:
    return service_of(request).identity.key.verifier_text() + "\n"


@router.get("/log/{log_id:path}/checkpoint",
            summary="The log's newest signed checkpoint (C2SP signed note), with its witnesses' cosignatures",
            operation_id="getCheckpoint", response_class=PlainTextResponse, openapi_extra=LOG_READER,
            responses=_LOG_ERRORS)
async def checkpoint(request: Request, response: Response, log_id: str, _: LogReader) -> str:
    note = await _read(service_of(request).reader.latest_checkpoint, log_id)
    response.headers["Cache-Control"] = SHORT_CACHE
    return note


async def _record(request: Request, record_id: str) -> UsageRecord | None:
    ledger = gateway_of(request).ledger
    rows = await run_in_threadpool(lambda: ledger.records(record_id=record_id))
    return rows[0] if rows else None


@router.get("/log/{log_id:path}/proof/inclusion", summary="Inclusion proof of a record in the log",
            operation_id="getInclusionProof", response_model=None, openapi_extra=LOG_READER,
            responses={**INCLUSION_OK, **_LOG_ERRORS})
async def inclusion(
    request: Request, log_id: str, _: LogReader,
    seq: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
    record_id: str | None = None,
    size: Annotated[int | None, Query(ge=1, le=INT64_MAX, description="tree size (default: the newest checkpoint)")]
    = None,
) -> dict[str, Any]:
    reader = service_of(request).reader
    if (seq is None) == (record_id is None):
        raise ApiError(400, "give exactly one of seq or record_id", code="invalid_value", param="seq")
    if record_id is not None:
        record = await _record(request, record_id)
        if record is None:
            raise ApiError(404, f"no record {record_id!r}", code="record_not_found", param="record_id")
        seq = record.seq
    assert seq is not None
    leaf = await _read(reader.leaf_by_seq, log_id, seq)
    if leaf is None:
        await _read(reader.log, log_id)  # 404 for an unknown log first
        raise ApiError(404, f"seq {seq} is not in log {log_id!r} (or not integrated yet)", code="not_in_log")
    if size is None:
        note = await _read(reader.latest_checkpoint, log_id)
        size = int(note.split("\n", 2)[1])
    proof = await _read(reader.inclusion_proof, log_id, leaf.index, size)
    return {"log_id": log_id, "seq": seq, "index": leaf.index, "size": size, "leaf": leaf.data, "proof": _b64(proof)}


@router.get("/log/{log_id:path}/proof/consistency", summary="Consistency proof between two sizes of the log",
            operation_id="getConsistencyProof", response_model=None, openapi_extra=LOG_READER,
            responses={**ok_response("ConsistencyProof", description="The proof"), **_LOG_ERRORS})
async def consistency(
    request: Request, log_id: str, _: LogReader,
    old: Positive,
    new: Annotated[int | None, Query(ge=1, le=INT64_MAX, description="default: the newest checkpoint")] = None,
) -> dict[str, Any]:
    if new is not None and new < old:
        raise ApiError(400, f"new ({new}) is smaller than old ({old})", code="invalid_value", param="new")
    reader = service_of(request).reader
    if new is None:
        note = await _read(reader.latest_checkpoint, log_id)
        new = int(note.split("\n", 2)[1])
    proof = await _read(reader.consistency_proof, log_id, old, new)
    return {"log_id": log_id, "old": old, "new": new, "proof": _b64(proof)}


@router.get("/log/{log_id:path}/leaves", summary="Leaves [start, end) of the log: each record's leaf bytes",
            operation_id="getLeaves", response_model=None, openapi_extra=LOG_READER,
            responses={**LEAVES_OK, **_LOG_ERRORS})
async def leaves(
    request: Request, log_id: str, _: LogReader,
    start: NonNegative = 0,
    end: Annotated[int | None, Query(ge=0, le=INT64_MAX,
                                     description=f"default: start + {MAX_LEAVES} or the size")] = None,
) -> dict[str, Any]:
    if end is not None and end < start:
        raise ApiError(400, f"end ({end}) is before start ({start})", code="invalid_value", param="end")
    reader = service_of(request).reader
    info = await _read(reader.log, log_id)
    end = min(info.size, start + MAX_LEAVES) if end is None else end
    if end - start > MAX_LEAVES:
        raise ApiError(400, f"at most {MAX_LEAVES} leaves per request", code="invalid_value", param="end")
    rows = await _read(reader.leaves, log_id, start, end)
    return {"log_id": log_id, "origin": info.origin, "start": start, "end": end,
            "leaves": [{"index": r.index, "seq": r.seq, "data": r.data} for r in rows]}


@router.get("/receipts/{record_id}", summary="A receipt for one of your records: projection, proof, checkpoint",
            operation_id="getReceipt", response_model=None, openapi_extra=RECEIPT_READER,
            responses={**RECEIPT_OK, **_LOG_ERRORS})
async def receipt(
    request: Request, record_id: str,
    log: Annotated[str | None, Query(description="which of the record's logs (default: the first)")] = None,
    format: Annotated[Literal["json", "tlog-proof"], Query()] = "json",
) -> Response:
    token = bearer(request)
    if token is None:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    gateway = gateway_of(request)
    is_admin = bool(gateway.admin_token) and hmac.compare_digest(token.encode(), gateway.admin_token.encode())
    customer = None
    if not is_admin:
        key = await gateway.keys.lookup(token)
        if key is None:
            raise ApiError(401, "incorrect API key provided", code="invalid_api_key")
        customer = key.customer
    record = await _record(request, record_id)
    if record is None or (customer is not None and record.customer != customer):
        raise ApiError(404, f"no record {record_id!r} for this API key's customer", code="record_not_found")
    with _mapped():
        bundle = await service_of(request).receipt(record, log)
    if format == "tlog-proof":
        return PlainTextResponse(bundle.to_tlog_proof())
    return Response(bundle.to_json(), media_type="application/json")
