"""A licensor's pages: its statements (a page each, and the JSON as issued, a CSV of its lines and
the statement bundle that `revshare verify statement` checks), its log's signed checkpoints over
time, and the commands that verify both. Another licensor's statement is a 404.

    GET /console/licensor                                         statements, checkpoints, how to verify
    GET /console/licensor/statements/{period}/{name}              the statement as a page
    GET /console/licensor/statements/{period}/{name}.json | .csv  as issued | its lines
    GET /console/licensor/bundles/{period}.zip                    the statement bundle of a settled period
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from revshare.api.auth import gateway_of, log_service_of
from revshare.api.console.guards import LicensorPage
from revshare.api.console.usage_view import csv_cell
from revshare.api.console.web import SECURITY_HEADERS, ConsoleError, ConsoleRoute, nav_item, render
from revshare.api.documents_routes import Document, find_document, list_documents
from revshare.instants import as_utc
from revshare.ledger.store import Ledger
from revshare.logstore.integrator import IntegrationError
from revshare.logstore.schema import tlog_checkpoints
from revshare.logstore.tree_store import LogReadError
from revshare.monthend.periods import SettlementLedgerError
from revshare.monthend.statement_bundle import export_bundle
from revshare.monthend.statement_lines import line_groups
from revshare.reporting.months import Period
from revshare.tlog import TlogError

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)
nav_item("Statements and log", "/console/licensor", "licensor", order=10)

MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
NAME = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
SHOWN_CHECKPOINTS = 50
LINE_COLUMNS = ("segment", "model", "model_kind", "direction", "requests", "tokens", "excluded_tokens", "gross",
                "excluded", "basis", "share")


@dataclass(frozen=True, slots=True)
class Signed:
    size: int
    signed_at: datetime
    root: str  # base64, the note's third line


def _checkpoints(ledger: Ledger, log_id: str) -> tuple[list[Signed], int]:
    """The newest signed checkpoints of a log (newest first), and how many there are."""
    c = tlog_checkpoints
    with ledger.engine.connect() as conn:
        count = int(conn.execute(select(func.count()).select_from(c).where(c.c.log_id == log_id)).scalar_one())
        rows = conn.execute(select(c.c.size, c.c.signed_at, c.c.note).where(c.c.log_id == log_id)
                            .order_by(c.c.size.desc()).limit(SHOWN_CHECKPOINTS)).all()
    signed = [Signed(int(size), as_utc(at), [*note.split("\n"), "", "", ""][2]) for size, at, note in rows]
    return signed, count


def _newest(request: Request, log_id: str) -> str:
    """The newest checkpoint with the witnesses' cosignatures held for it, as the log API serves it."""
    service = log_service_of(request)
    try:
        return service.reader.latest_checkpoint(log_id) if service is not None else ""
    except LogReadError:
        return ""


@router.get("/licensor")
async def licensor(request: Request, session: LicensorPage) -> Response:
    log_id = session.subject
    statements = await run_in_threadpool(list_documents, gateway_of(request).ledger, None, "statement", log_id)
    signed, count = await run_in_threadpool(_checkpoints, gateway_of(request).ledger, log_id)
    newest = await run_in_threadpool(_newest, request, log_id) if signed else ""
    return render(request, "licensor.html", title=f"Statements and log of {log_id}", log_id=log_id,
                  statements=list(reversed(statements)), periods=sorted({s["period"] for s in statements},
                                                                         reverse=True),
                  checkpoint=newest, size=signed[0].size if signed else None, count=count, signed=signed,
                  gateway=str(request.base_url).rstrip("/"))


async def _statement(request: Request, licensor: str, period: str, name: str) -> Document:
    found = None
    if MONTH.match(period) and NAME.match(name):
        found = await run_in_threadpool(find_document, gateway_of(request).ledger, period, name, "statement",
                                        licensor)
    if found is None:
        raise ConsoleError(404, f"you have no statement {name!r} in {period}")
    return found


def _download(body: bytes, media: str, filename: str, **headers: str) -> Response:
    return Response(body, media_type=media, headers={**SECURITY_HEADERS, **headers,
                                                     "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/licensor/statements/{period}/{name}")
async def statement(request: Request, period: str, name: str, session: LicensorPage) -> Response:
    if name.endswith(".json"):
        found = await _statement(request, session.subject, period, name.removesuffix(".json"))
        return _download(found.body.encode(), "application/json", f"{period}-{name}",
                         **{"x-revshare-sha256": found.sha256})
    if name.endswith(".csv"):
        found = await _statement(request, session.subject, period, name.removesuffix(".csv"))
        return _download(_lines_csv(json.loads(found.body)), "text/csv; charset=utf-8", f"{period}-{name}")
    found = await _statement(request, session.subject, period, name)
    body: dict[str, Any] = json.loads(found.body)
    return render(request, "statement.html", title=f"Statement {body.get('number', '')}, {period}", doc=body,
                  sha256=found.sha256, period=period, name=name, columns=LINE_COLUMNS,
                  groups=line_groups(body.get("lines", [])))


def _lines_csv(body: dict[str, Any]) -> bytes:
    """The statement's lines, one a row, amounts as the statement writes them."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["period", "contract", "currency", *LINE_COLUMNS])
    for line in body.get("lines", []):
        writer.writerow([body.get("period", ""), csv_cell(str(body.get("contract", ""))), body.get("currency", ""),
                         *(csv_cell(str(line.get(c, ""))) for c in LINE_COLUMNS)])
    return buf.getvalue().encode()


def _bundle_zip(request: Request, licensor: str, period: str) -> bytes:
    gateway = gateway_of(request)
    service = log_service_of(request)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{licensor}-{period}"
        written = export_bundle(gateway.ledger, gateway.catalog, Period.parse(period), licensor, out,
                                identity=service.identity if service is not None else None,
                                exported_by=f"licensor {licensor} via console")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in written:
                archive.write(path, f"{licensor}-{period}/{path.relative_to(out)}")
    return buf.getvalue()


@router.get("/licensor/bundles/{period}.zip")
async def bundle(request: Request, period: str, session: LicensorPage) -> Response:
    if not MONTH.match(period):
        raise ConsoleError(404, f"there is no period {period!r}")
    mine = await run_in_threadpool(list_documents, gateway_of(request).ledger, period, "statement", session.subject)
    if not mine:
        raise ConsoleError(404, f"you have no statement in {period}")
    try:
        data = await run_in_threadpool(_bundle_zip, request, session.subject, period)
    except (SettlementLedgerError, IntegrationError, TlogError, OSError) as exc:
        raise ConsoleError(409, f"the bundle could not be made: {exc}") from None
    return _download(data, "application/zip", f"{session.subject}-{period}.zip")
