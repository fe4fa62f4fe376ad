"""Statements and invoices as files: JSON (RFC 8785 JCS), CSV and a self-contained HTML page.

Every renderer is a pure function of its document, so re-running a close gives byte-identical
files. Money is always a string. `statement_hash` is hex SHA-256 over the JCS bytes of a
statement's JSON; the next statement of the same contract names it as `previous_hash`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import rfc8785

from revshare.settlement.invoice import Invoice
from revshare.settlement.pages import invoice_page, money_text, statement_page
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


# Money columns of each CSV section, written at the currency's minor unit ("0" -> "0.00"); the
# JSON keeps `money_str` text. Rates and counts are not money and are written as in the JSON.
_STATEMENT_MONEY = {
    "line": {"gross", "excluded", "basis", "share"},
    "adjustment": {"amount", "excluded", "basis", "share"},
    "tier": {"lower", "upper", "basis", "share"},
}
_INVOICE_MONEY = {"line": {"unit_price_per_million", "amount"}, "credit": {"amount"}}


def _money(value: Any, currency: str) -> Any:
    return money_text(value, currency, group=False) if isinstance(value, str) else value


def _table(section: str, items: Sequence[Mapping[str, Any]], money: set[str], currency: str) -> list[list[Any]]:
    if not items:
        return []
    cols = list(items[0])
    return [["section", *cols]] + [
        [section, *(_money(item[c], currency) if c in money else item[c] for c in cols)] for item in items
    ]


def statement_csv(statement: Statement) -> bytes:
    """One table per section (lines, adjustments, tiers, totals), each with its own header row."""
    doc = statement.to_json()
    cur = doc["currency"]
    rows: list[list[Any]] = [["section", "field", "value"]]
    for k in ("host", "licensor", "contract", "period", "currency", "number", "previous_hash"):
        rows.append(["header", k, doc[k]])
    for section, key in (("line", "lines"), ("adjustment", "adjustments"), ("tier", "tiers")):
        rows += _table(section, doc[key], _STATEMENT_MONEY[section], cur)
    rows += [["totals", k, _money(v, cur)] for k, v in doc["totals"].items()]
    return _csv(rows)


def invoice_csv(invoice: Invoice) -> bytes:
    doc = invoice.to_json()
    cur = doc["currency"]
    rows: list[list[Any]] = [["section", "field", "value"]]
    for k in ("host", "customer", "period", "currency", "number"):
        rows.append(["header", k, doc[k]])
    rows += _table("line", doc["lines"], _INVOICE_MONEY["line"], cur)
    rows += _table("credit", doc["credits"], _INVOICE_MONEY["credit"], cur)
    rows += [["totals", k, _money(doc[k], cur)] for k in ("subtotal", "credits_total", "total_due")]
    return _csv(rows)


def statement_html(statement: Statement) -> bytes:
    """A readable, printable, self-contained page (`settlement.pages`); a pure function of the JSON."""
    return statement_page(statement.to_json())


def invoice_html(invoice: Invoice) -> bytes:
    """A readable, printable, self-contained page (`settlement.pages`); a pure function of the JSON."""
    return invoice_page(invoice.to_json())


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
