"""A customer's invoices and receipts. Everything is looked up among this customer's own: another
customer's invoice or record id is a 404, as if it did not exist.

    GET /console/me/invoices                         its invoices, each downloadable as issued
    GET /console/me/invoices/{period}/{name}         one (JSON, as issued)
    GET /console/me/receipts?record_id=rec_...       a receipt and the command that verifies it
"""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import gateway_of, log_service_of
from revshare.api.console.guards import CustomerPage
from revshare.api.console.web import SECURITY_HEADERS, ConsoleError, ConsoleRoute, nav_item, render
from revshare.api.documents_routes import find_document, list_documents
from revshare.logstore.integrator import IntegrationError
from revshare.logstore.tree_store import LogReadError
from revshare.records.record import UsageRecord

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Invoices", "/console/me/invoices", "customer", order=25)
nav_item("Receipts", "/console/me/receipts", "customer", order=30)

MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
RECORD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@router.get("/me/invoices")
async def invoices(request: Request, session: CustomerPage) -> Response:
    listed = await run_in_threadpool(list_documents, gateway_of(request).ledger, None, "invoice", session.subject)
    return render(request, "me_invoices.html", title="Your invoices", invoices=list(reversed(listed)),
                  gateway=str(request.base_url).rstrip("/"))


@router.get("/me/invoices/{period}/{name}")
async def invoice(request: Request, period: str, name: str, session: CustomerPage) -> Response:
    found = None
    if MONTH.match(period) and re.fullmatch(r"[A-Za-z0-9._-]{1,255}", name):
        found = await run_in_threadpool(find_document, gateway_of(request).ledger, period, name, "invoice",
                                        session.subject)
    if found is None:
        raise ConsoleError(404, f"you have no invoice {name!r} in {period}")
    return Response(found.body.encode(), media_type="application/json",
                    headers={**SECURITY_HEADERS, "x-revshare-sha256": found.sha256,
                             "Content-Disposition": f'attachment; filename="{period}-{name}.json"'})


def _receipts(request: Request, *, record_id: str, status: int = 200, error: str = "",
              record: UsageRecord | None = None,
              receipt: str = "") -> Response:
    return render(request, "me_receipts.html", title=f"Receipt {record_id}" if receipt else "Receipts", status=status,
                  record_id=record_id, gateway=str(request.base_url).rstrip("/"), error=error, record=record,
                  receipt=receipt)


@router.get("/me/receipts")
async def receipts(request: Request, session: CustomerPage, record_id: str = "") -> Response:
    record_id = record_id.strip()
    if not record_id:
        return _receipts(request, record_id="")
    if not RECORD_ID.match(record_id):
        return _receipts(request, record_id=record_id, status=400,
                         error="A record id is letters, digits, _ and - (such as rec_…), as the x-revshare-record-id "
                               "header of a response gives it.")
    ledger = gateway_of(request).ledger
    rows = await run_in_threadpool(lambda: ledger.records(record_id=record_id))
    if not rows or rows[0].customer != session.subject:  # another customer's: as if there were none
        return _receipts(request, record_id=record_id, status=404, error=f"You have no record {record_id!r}.")
    service = log_service_of(request)
    if service is None:
        raise ConsoleError(503, "the verifiable logs are not running on this gateway")
    try:
        receipt = await service.receipt(rows[0], None)
    except (LogReadError, IntegrationError) as exc:
        return _receipts(request, record_id=record_id, status=409, record=rows[0],
                         error=f"No receipt yet: {exc}. Try again in a few seconds.")
    return _receipts(request, record_id=record_id, record=rows[0],
                     receipt=json.dumps(json.loads(receipt.to_json()), indent=2))
