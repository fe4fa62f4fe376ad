"""Admin API for the host operator, behind the admin token: records here, accounts (customers, keys,
audit) in `api.admin_accounts`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from revshare.api.admin_accounts import router as accounts_router
from revshare.api.auth import gateway_of, require_admin
from revshare.api.errors import error_responses
from revshare.api.limits import single_query_values
from revshare.api.openapi import ADMIN, RECORDS_OK
from revshare.api.protocol import INT64_MAX

__all__ = ["router"]

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin), Depends(single_query_values)],
                   tags=["admin"])
_ERRORS = error_responses(401)


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


router.include_router(accounts_router)
