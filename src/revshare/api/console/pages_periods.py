"""The operator's month end: the closed periods, the next one to close, closing and settling
(as `revshare period close` and `revshare settle` do), and the documents each settlement issued,
downloaded byte for byte as issued. A refused close or settle shows the page again with the
reason, status 400 or 409, and changes nothing.

    GET  /console/periods                          the periods, their documents, the forms
    POST /console/periods/close                    period=YYYY-MM, early=on?, note=; "close it?" first,
                                                   then again with confirm=yes
    POST /console/periods/{period}/settle
    GET  /console/periods/{period}/documents/{name}   a statement or invoice, as issued (JSON)
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import gateway_of, log_service_of
from revshare.api.console.guards import OperatorForm, OperatorPage
from revshare.api.console.session import Session
from revshare.api.console.web import SECURITY_HEADERS, ConsoleError, ConsoleRoute, SeeOther, nav_item, render
from revshare.api.documents_routes import find_document, list_documents
from revshare.logstore.integrator import IntegrationError, checkpoints_at_seq
from revshare.monthend.periods import (
    SettlementLedgerError,
    close_period,
    closed_period,
    closed_periods,
    next_open_period,
)
from revshare.monthend.settle_run import settle_period
from revshare.monthend.statement_bundle import statement_logs
from revshare.reporting.months import Period
from revshare.tlog import TlogError

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Periods", "/console/periods", "operator", order=30)

MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
NOTE_MAX = 500
DONE = {"closed": "Period closed: its records and credits never change now. Settle it next.",
        "settled": "Period settled: its statements and invoices are issued below."}


def _listing(request: Request) -> dict[str, Any]:
    ledger = gateway_of(request).ledger
    periods = closed_periods(ledger)
    documents = list_documents(ledger, None, None, None)
    following = next_open_period(ledger)
    now = datetime.now(UTC)
    return {"periods": list(reversed(periods)), "next": following.label if following else "",
            "current": f"{now.year:04d}-{now.month:02d}",
            "documents": {p.period.label: [d for d in documents if d["period"] == p.period.label] for p in periods}}


async def _page(request: Request, *, status: int = 200, problem: str = "", values: dict[str, str] | None = None,
                done: str = "") -> Response:
    listing = await run_in_threadpool(_listing, request)
    values = values or {"period": listing["next"] or "", "note": ""}
    return render(request, "periods.html", title="Periods", status=status, problem=problem, values=values,
                  notice=DONE.get(done, ""), **listing)


@router.get("/periods")
async def periods(request: Request, _: OperatorPage, done: str = "") -> Response:
    return await _page(request, done=done)


def _operator(session: Session) -> str:
    return f"admin ({session.who}) via console" if session.who else "admin via console"


@router.post("/periods/close")
async def close(request: Request, posted: OperatorForm) -> Response:
    label = posted.get("period").strip()
    note = posted.get("note").strip()
    values = {"period": label, "note": note, "early": posted.get("early")}
    if not MONTH.match(label):
        return await _page(request, status=400, problem="The period is a month, YYYY-MM (UTC).", values=values)
    if len(note) > NOTE_MAX or not note.isprintable():
        return await _page(request, status=400, problem=f"The note is at most {NOTE_MAX} printable characters.",
                           values=values)
    if posted.get("confirm") != "yes":  # a close is for good: ask once, nothing changed yet
        return render(request, "period_close.html", title=f"Close {label}?", period=label, note=note,
                      early=posted.get("early") == "on")
    gateway = gateway_of(request)
    try:
        closed = await run_in_threadpool(close_period, gateway.ledger, Period.parse(label),
                                         closed_by=_operator(posted.session), early=posted.get("early") == "on",
                                         note=note)
    except SettlementLedgerError as exc:
        return await _page(request, status=409, problem=f"Not closed: {exc}", values=values)
    service = log_service_of(request)
    if service is not None:  # sign each log's checkpoint at the cut-off, as `revshare period close` does
        try:
            await service.integrate_now()
            await run_in_threadpool(checkpoints_at_seq, gateway.ledger, gateway.catalog, closed.last_seq,
                                    identity=service.identity)
        except (IntegrationError, TlogError, OSError) as exc:
            return await _page(request, status=409, problem=(
                f"{label} is closed, but its checkpoints are not signed: {exc}. Fix the log (revshare log audit); "
                "settling signs them."))
    raise SeeOther("/console/periods?done=closed")


def _settle(request: Request, label: str, by: str) -> None:
    gateway = gateway_of(request)
    ledger, catalog = gateway.ledger, gateway.catalog
    period = Period.parse(label)
    closed = closed_period(ledger, period)
    if closed is None:
        raise SettlementLedgerError(f"period {label} is not closed: close it first")
    service = log_service_of(request)
    identity = service.identity if service is not None else None
    refs = statement_logs(ledger, catalog, closed, closed_period(ledger, period.previous()), identity=identity)
    with tempfile.TemporaryDirectory() as out:  # the documents are kept in the ledger: downloaded from there
        settle_period(ledger, catalog, period, out, settled_by=by, log=refs,
                      signer=identity.key if identity is not None else None)


@router.post("/periods/{period}/settle")
async def settle(request: Request, period: str, posted: OperatorForm) -> Response:
    if not MONTH.match(period):
        return await _page(request, status=400, problem="The period is a month, YYYY-MM (UTC).")
    try:
        await run_in_threadpool(_settle, request, period, _operator(posted.session))
    except (SettlementLedgerError, IntegrationError, TlogError, OSError) as exc:
        return await _page(request, status=409, problem=f"Not settled: {exc}")
    raise SeeOther("/console/periods?done=settled")


@router.get("/periods/{period}/documents/{name}")
async def document(request: Request, period: str, name: str, _: OperatorPage) -> Response:
    found = None
    if MONTH.match(period) and re.fullmatch(r"[A-Za-z0-9._-]{1,255}", name):
        found = await run_in_threadpool(find_document, gateway_of(request).ledger, period, name, None, None)
    if found is None:
        raise ConsoleError(404, f"there is no document {name!r} in {period}")
    return Response(found.body.encode(), media_type="application/json",
                    headers={**SECURITY_HEADERS, "x-revshare-sha256": found.sha256,
                             "Content-Disposition": f'attachment; filename="{period}-{name}.json"'})
