"""Admin API for the host operator, behind the admin token: customers, keys and records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import gateway_of, require_admin
from revshare.api.errors import error_responses
from revshare.api.limits import single_query_values
from revshare.api.openapi import ADMIN, RECORDS_OK, ok_response
from revshare.api.protocol import INT64_MAX
from revshare.instants import format_instant

__all__ = ["router"]

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin), Depends(single_query_values)],
                   tags=["admin"])
_ERRORS = error_responses(401)


@router.get("/customers", summary="Customers in the catalog", operation_id="listCustomers", response_model=None,
            openapi_extra=ADMIN, responses={**ok_response("Customers", description="The customers"), **_ERRORS})
async def customers(request: Request) -> dict[str, Any]:
    catalog = gateway_of(request).catalog
    return {"data": [{"name": c.name, "models": list(c.models), "description": c.description}
                     for c in catalog.customers]}


@router.get("/keys", summary="API keys (never their secrets)", operation_id="listKeys", response_model=None,
            openapi_extra=ADMIN, responses={**ok_response("ApiKeys", description="The keys"), **_ERRORS})
async def keys(request: Request, customer: str | None = None) -> dict[str, Any]:
    rows = await run_in_threadpool(gateway_of(request).ledger.keys, customer)
    return {"data": [{
        "key_id": k.key_id, "customer": k.customer, "label": k.label,
        "created_at": format_instant(k.created_at),
        "revoked_at": format_instant(k.revoked_at) if k.revoked_at else None,
    } for k in rows]}


@router.get("/records", summary="Usage records in ledger order", operation_id="listRecords", response_model=None,
            openapi_extra=ADMIN, responses={**RECORDS_OK, **_ERRORS})
async def records(
    request: Request,
    customer: str | None = None,
    after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, Any]:
    ledger = gateway_of(request).ledger
    rows = await run_in_threadpool(lambda: ledger.records(customer=customer, after_seq=after_seq, limit=limit))
    data = [r.to_json() for r in rows]
    return {"data": data, "next_after_seq": data[-1]["seq"] if data else after_seq}
