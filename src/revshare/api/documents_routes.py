"""Closed periods and the documents their settlement issued, each read by whom it concerns:

    GET /admin/periods                                   operator: every close, settled or not
    GET /admin/documents?period=&kind=                   operator: every statement and invoice
    GET /admin/documents/{period}/{name}                 operator: one, as issued (JSON)
    GET /v1/me/invoices?period=  and  /{period}/{name}   a customer key: its customer's invoices only
    GET /v1/licensor/statements?period=  and  /{period}/{name}   a licensor token: its statements only

A document is served byte for byte as stored at settlement, so its SHA-256 is the one issued
(`x-revshare-sha256`); someone else's document is a 404, never a 403 that would confirm it exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import bearer, gateway_of, require_admin, require_customer
from revshare.api.errors import ApiError, error_responses
from revshare.api.limits import single_query_values
from revshare.api.openapi import ADMIN, CUSTOMER, ok_response
from revshare.instants import format_instant
from revshare.ledger.store import ApiKey, Ledger
from revshare.logstore.licensor_tokens import find_token
from revshare.monthend.periods import closed_periods
from revshare.monthend.schema import settlement_documents, settlement_states

__all__ = ["Document", "admin_router", "customer_router", "find_document", "licensor_router", "list_documents"]

admin_router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin), Depends(single_query_values)],
                         tags=["admin"])
customer_router = APIRouter(prefix="/v1/me", dependencies=[Depends(single_query_values)])
licensor_router = APIRouter(prefix="/v1/licensor", dependencies=[Depends(single_query_values)])

LICENSOR: dict[str, Any] = {"security": [{"licensorToken": []}]}
PeriodQuery = Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="a month, YYYY-MM")]
PeriodPath = Annotated[str, Path(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
NamePath = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+$")]
Kind = Literal["statement", "invoice"]
_LIST_OK = ok_response("Documents", description="Issued documents, by period and issue order")
_DOC_OK: dict[int | str, dict[str, Any]] = {200: {
    "description": "The document as issued (its SHA-256 in `x-revshare-sha256`)",
    "content": {"application/json": {"schema": {"type": "object"}}},
    "headers": {"x-revshare-sha256": {"schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}}}


def _owner(kind: str, body: str) -> str:
    """The customer an invoice is for, or the licensor a statement is for."""
    document = json.loads(body)
    return str(document.get("customer" if kind == "invoice" else "licensor", ""))


def list_documents(ledger: Ledger, period: str | None, kind: Kind | None, owner: str | None) -> list[dict[str, Any]]:
    """Issued documents (period, kind, name, number, sha256, for), of `owner` only when given."""
    d = settlement_documents
    query = select(d.c.period, d.c.kind, d.c.name, d.c.number, d.c.sha256, d.c.body).order_by(d.c.period, d.c.position)
    if period is not None:
        query = query.where(d.c.period == period)
    if kind is not None:
        query = query.where(d.c.kind == kind)
    with ledger.engine.connect() as conn:
        rows = conn.execute(query).all()
    listed = []
    for row in rows:
        concerns = _owner(row.kind, row.body)
        if owner is None or concerns == owner:
            listed.append({"period": row.period, "kind": row.kind, "name": row.name, "number": row.number,
                           "sha256": row.sha256, "for": concerns})
    return listed


@dataclass(frozen=True, slots=True)
class Document:
    kind: str
    sha256: str
    body: str  # the JSON text as issued


def find_document(ledger: Ledger, period: str, name: str, kind: Kind | None, owner: str | None) -> Document | None:
    """One issued document, or None when there is none of that kind and owner (someone else's)."""
    d = settlement_documents
    query = select(d.c.kind, d.c.sha256, d.c.body).where(d.c.period == period, d.c.name == name)
    with ledger.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or (kind is not None and row.kind != kind) or (owner is not None
                                                                   and _owner(row.kind, row.body) != owner):
        return None
    return Document(str(row.kind), str(row.sha256), str(row.body))


def _document(ledger: Ledger, period: str, name: str, kind: Kind | None, owner: str | None) -> Response:
    found = find_document(ledger, period, name, kind, owner)
    if found is None:
        raise ApiError(404, f"no document {name!r} in {period}", code="not_found", param="name")
    return Response(found.body.encode("utf-8"), media_type="application/json",
                    headers={"x-revshare-sha256": found.sha256})


@admin_router.get("/periods", summary="Closed periods, oldest first", operation_id="listPeriods",
                  response_model=None, openapi_extra=ADMIN,
                  responses={**ok_response("Periods", description="Every close"), **error_responses(401)})
async def periods(request: Request) -> dict[str, Any]:
    ledger = gateway_of(request).ledger

    def read() -> dict[str, Any]:
        with ledger.engine.connect() as conn:
            settled = {str(p) for (p,) in conn.execute(select(settlement_states.c.period))}
        return {"data": [{"period": c.period.label, "closed_at": format_instant(c.closed_at),
                          "cutoff": format_instant(c.cutoff), "last_seq": c.last_seq, "early": c.early,
                          "settled": c.period.label in settled} for c in closed_periods(ledger)]}

    return await run_in_threadpool(read)


@admin_router.get("/documents", summary="Statements and invoices issued", operation_id="listDocuments",
                  response_model=None, openapi_extra=ADMIN, responses={**_LIST_OK, **error_responses(400, 401)})
async def admin_documents(request: Request, period: PeriodQuery = None, kind: Kind | None = None) -> dict[str, Any]:
    ledger = gateway_of(request).ledger
    return {"data": await run_in_threadpool(list_documents, ledger, period, kind, None)}


@admin_router.get("/documents/{period}/{name}", summary="One statement or invoice, as issued",
                  operation_id="getDocument", response_model=None, openapi_extra=ADMIN,
                  responses={**_DOC_OK, **error_responses(400, 401, 404)})
async def admin_document(request: Request, period: PeriodPath, name: NamePath) -> Response:
    return await run_in_threadpool(_document, gateway_of(request).ledger, period, name, None, None)


@customer_router.get("/invoices", summary="This key's customer's invoices", operation_id="listMyInvoices",
                     response_model=None, openapi_extra=CUSTOMER,
                     responses={**_LIST_OK, **error_responses(400, 401, 403)})
async def my_invoices(request: Request, key: Annotated[ApiKey, Depends(require_customer)],
                      period: PeriodQuery = None) -> dict[str, Any]:
    ledger = gateway_of(request).ledger
    return {"data": await run_in_threadpool(list_documents, ledger, period, "invoice", key.customer)}


@customer_router.get("/invoices/{period}/{name}", summary="One of this key's customer's invoices",
                     operation_id="getMyInvoice", response_model=None, openapi_extra=CUSTOMER,
                     responses={**_DOC_OK, **error_responses(400, 401, 403, 404)})
async def my_invoice(request: Request, key: Annotated[ApiKey, Depends(require_customer)], period: PeriodPath,
                     name: NamePath) -> Response:
    return await run_in_threadpool(_document, gateway_of(request).ledger, period, name, "invoice", key.customer)


async def require_licensor(request: Request) -> str:
    """The licensor a licensor token belongs to; 401 without a valid one (customer keys never pass)."""
    token = bearer(request)
    if token is None:
        raise ApiError(401, "send 'Authorization: Bearer <licensor token>'", code="missing_api_key")
    found = await run_in_threadpool(find_token, gateway_of(request).ledger, token)
    if found is None:
        raise ApiError(401, "incorrect licensor token provided", code="invalid_api_key")
    return found.licensor


@licensor_router.get("/statements", summary="This licensor's statements", operation_id="listMyStatements",
                     response_model=None, openapi_extra=LICENSOR, responses={**_LIST_OK, **error_responses(400, 401)})
async def my_statements(request: Request, licensor: Annotated[str, Depends(require_licensor)],
                        period: PeriodQuery = None) -> dict[str, Any]:
    ledger = gateway_of(request).ledger
    return {"data": await run_in_threadpool(list_documents, ledger, period, "statement", licensor)}


@licensor_router.get("/statements/{period}/{name}", summary="One of this licensor's statements",
                     operation_id="getMyStatement", response_model=None, openapi_extra=LICENSOR,
                     responses={**_DOC_OK, **error_responses(400, 401, 404)})
async def my_statement(request: Request, licensor: Annotated[str, Depends(require_licensor)], period: PeriodPath,
                       name: NamePath) -> Response:
    return await run_in_threadpool(_document, gateway_of(request).ledger, period, name, "statement", licensor)
