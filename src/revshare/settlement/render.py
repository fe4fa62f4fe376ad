"""Statements and invoices as files: JSON (RFC 8785 JCS), CSV and a self-contained HTML page.

Every renderer is a pure function of its document, so re-running a close gives byte-identical
files. Money is always a string. `statement_hash` is hex SHA-256 over the JCS bytes of a
statement's JSON; the next statement of the same contract names it as `previous_hash`.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import rfc8785

from revshare.settlement.invoice import Invoice
from revshare.settlement.statement import Statement

__all__ = [
    "invoice_csv",
    "invoice_html",
    "invoice_json",
    "invoice_stem",
    "statement_csv",
    "statement_hash",
    "statement_html",
    "statement_json",
    "statement_stem",
    "write_files",
]


def _jcs(doc: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps(doc)


def statement_hash(statement_json: Mapping[str, Any]) -> str:
    """Hex SHA-256 over the JCS (RFC 8785) bytes of a statement's JSON."""
    return hashlib.sha256(_jcs(statement_json)).hexdigest()


def statement_json(statement: Statement) -> bytes:
    return _jcs(statement.to_json()) + b"\n"


def invoice_json(invoice: Invoice) -> bytes:
    return _jcs(invoice.to_json()) + b"\n"


def _csv(rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buf.getvalue().encode("utf-8")


def _table(section: str, items: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    if not items:
        return []
    cols = list(items[0])
    return [["section", *cols]] + [[section, *(item[c] for c in cols)] for item in items]


def statement_csv(statement: Statement) -> bytes:
    """One table per section (lines, adjustments, tiers, totals), each with its own header row."""
    doc = statement.to_json()
    rows: list[list[Any]] = [["section", "field", "value"]]
    for k in ("host", "licensor", "contract", "period", "currency", "number", "previous_hash"):
        rows.append(["header", k, doc[k]])
    rows += _table("line", doc["lines"]) + _table("adjustment", doc["adjustments"]) + _table("tier", doc["tiers"])
    rows += [["totals", k, v] for k, v in doc["totals"].items()]
    return _csv(rows)


def invoice_csv(invoice: Invoice) -> bytes:
    doc = invoice.to_json()
    rows: list[list[Any]] = [["section", "field", "value"]]
    for k in ("host", "customer", "period", "currency", "number"):
        rows.append(["header", k, doc[k]])
    rows += _table("line", doc["lines"]) + _table("credit", doc["credits"])
    rows += [["totals", k, doc[k]] for k in ("subtotal", "credits_total", "total_due")]
    return _csv(rows)


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#111}"
    "table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:600}"
)


def _html_table(caption: str, items: Sequence[Mapping[str, Any]]) -> str:
    if not items:
        return f"<p>{html.escape(caption)}: none.</p>"
    cols = list(items[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(_cell(item[c]) for c in cols) + "</tr>" for item in items
    )
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    numeric = isinstance(value, int) or (isinstance(value, str) and text.lstrip("-").replace(".", "", 1).isdigit())
    return f'<td class="n">{html.escape(text)}</td>' if numeric else f"<td>{html.escape(text)}</td>"


def _page(title: str, header: Mapping[str, Any], sections: Sequence[str]) -> bytes:
    meta = "".join(f"<tr><th>{html.escape(k)}</th>{_cell(v)}</tr>" for k, v in header.items())
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{meta}</table>{''.join(sections)}</body></html>\n"
    ).encode()


def statement_html(statement: Statement) -> bytes:
    doc = statement.to_json()
    header = {k: doc[k] for k in ("host", "licensor", "licensor_name", "contract", "period", "currency",
                                  "number", "previous_hash")}
    title = f"Statement {doc['contract']} {doc['period']} ({doc['licensor_name']})"
    totals = [{"total": k, "amount": v} for k, v in doc["totals"].items()]
    return _page(title, header, [
        _html_table("Terms by segment", [{**s, "tiers": str(s["tiers"]), "royalty": str(s["royalty"]),
                                          "exempt_customers": ", ".join(s["exempt_customers"]),
                                          "exempt_keys": ", ".join(s["exempt_keys"])} for s in doc["segments"]]),
        _html_table("Lines", doc["lines"]),
        _html_table("Adjustments", doc["adjustments"]),
        _html_table("Tiers", doc["tiers"]),
        _html_table("Totals", totals),
    ])


def invoice_html(invoice: Invoice) -> bytes:
    doc = invoice.to_json()
    header = {k: doc[k] for k in ("host", "customer", "period", "currency", "number")}
    totals = [{"total": k, "amount": doc[k]} for k in ("subtotal", "credits_total", "total_due")]
    return _page(f"Invoice {doc['number']}", header, [
        _html_table("Usage", doc["lines"]), _html_table("Credits", doc["credits"]), _html_table("Totals", totals),
    ])


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def statement_stem(statement: Statement) -> str:
    """The file name of a statement, without extension: statement-<licensor>-<contract>-<period>."""
    return f"statement-{_safe(statement.licensor)}-{_safe(statement.contract)}-{statement.period}"


def invoice_stem(invoice: Invoice) -> str:
    """The file name of an invoice, without extension: invoice-<customer>-<currency>-<period>."""
    return f"invoice-{_safe(invoice.customer)}-{invoice.currency}-{invoice.period}"


def write_files(directory: str | Path, statements: Sequence[Statement], invoices: Sequence[Invoice]) -> list[Path]:
    """Write .json, .csv and .html for each document; returns the paths, sorted."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for s in statements:
        for ext, data in (("json", statement_json(s)), ("csv", statement_csv(s)), ("html", statement_html(s))):
            path = out / f"{statement_stem(s)}.{ext}"
            path.write_bytes(data)
            written.append(path)
    for i in invoices:
        for ext, data in (("json", invoice_json(i)), ("csv", invoice_csv(i)), ("html", invoice_html(i))):
            path = out / f"{invoice_stem(i)}.{ext}"
            path.write_bytes(data)
            written.append(path)
    return sorted(written)
