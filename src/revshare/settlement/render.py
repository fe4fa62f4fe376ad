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
from decimal import Decimal
from pathlib import Path
from typing import Any

import rfc8785

from revshare.settlement.invoice import Invoice
from revshare.settlement.kinds import apart, kind_groups
from revshare.settlement.pages import invoice_page, statement_page
from revshare.settlement.rounding import amount_text, places_of
from revshare.settlement.statement import Statement

__all__ = [
    "INVOICE_COLUMNS",
    "STATEMENT_COLUMNS",
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


# -- CSV: one table per file -----------------------------------------------------------------------
#
# Each CSV file is one table: one header row, every row as wide as it. The first columns name the
# document (so that rows of many files can be stacked), `section` says what a row is, and the
# columns of the other sections are left empty. Values are the JSON's: money at the currency's
# minor unit, counts and rates as numbers, booleans as `true`/`false`, null as an empty cell.
# Rows end in CRLF (RFC 4180), so that a cell holding a line break is quoted and stays one cell.
# Each line's `model_kind` says what it bills; when some line bills embeddings, a `subtotal` row
# per kind follows the lines (`_subtotals`): the kinds' subtotals add up to the totals.
# A text cell that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage
# return) is written with a leading apostrophe (OWASP's advice for CSV injection); numeric columns
# are never touched, so a negative amount stays a number.

STATEMENT_COLUMNS = (
    "licensor", "contract", "period", "currency", "section", "item", "value", "segment", "date", "kind", "ref",
    "reason", "model", "model_kind", "direction", "lower", "upper", "rate", "requests", "tokens", "excluded_tokens",
    "gross", "amount", "excluded", "basis", "share", "end_users", "customers", "keys",
)
INVOICE_COLUMNS = (
    "customer", "period", "currency", "section", "item", "value", "model", "model_kind", "direction",
    "price_version", "late", "requests", "tokens", "unit_price_per_million", "id", "kind", "date", "reason", "amount",
)
_NUMERIC = frozenset({"segment", "requests", "tokens", "excluded_tokens", "rate", "lower", "upper", "gross",
                      "amount", "excluded", "basis", "share", "unit_price_per_million", "end_users", "customers",
                      "keys"})
_STATEMENT_HEADER = ("host", "licensor_name", "number", "previous_hash", "period_start", "period_end", "cutoff",
                     "closed_early")
_INVOICE_HEADER = ("host", "number", "period_start", "period_end", "cutoff", "closed_early")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value: Any) -> str:
    """A JSON value as the text of a cell: booleans as JSON writes them, null empty; a formula defused."""
    text = "" if value is None else ("true" if value else "false") if isinstance(value, bool) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _number_cell(value: Any) -> str:
    return "" if value is None else str(value)


def _subtotals(ident: Mapping[str, Any], lines: Sequence[Mapping[str, Any]], counts: Sequence[str],
               amounts: Sequence[str], places: int) -> list[dict[str, Any]]:
    """One `subtotal` row per model kind (`item` and `model_kind` the kind), when the lines bill
    more than chat (`kinds.apart`): its tokens and amounts summed over the kind's lines, so the
    subtotals add up to the document's totals (requests are not: a request is on two lines)."""
    if not apart(lines):
        return []
    return [{**ident, "section": "subtotal", "item": kind, "model_kind": kind,
             **{c: sum(int(x[c]) for x in group) for c in counts},
             **{a: amount_text(sum((Decimal(x[a]) for x in group), Decimal(0)), places) for a in amounts}}
            for kind, group in kind_groups(lines)]


def _table(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """One CSV table: the header, then each row's cells by column name (absent: empty)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180; a cell holding a CR or LF is quoted
    writer.writerow(columns)
    for row in rows:
        numeric = _NUMERIC | ({"value"} if row["section"] == "total" else set())
        writer.writerow([_number_cell(row.get(c)) if c in numeric else _text_cell(row.get(c)) for c in columns])
    return buf.getvalue().encode("utf-8")


def statement_csv(statement: Statement) -> bytes:
    """The statement as one table: its document fields, lines, adjustments, tier rows and totals."""
    doc = statement.to_json()
    ident = {k: doc[k] for k in ("licensor", "contract", "period", "currency")}
    rows: list[dict[str, Any]] = [{**ident, "section": "document", "item": k, "value": doc[k]}
                                  for k in _STATEMENT_HEADER]
    rows += [{**ident, "section": "line", **item} for item in doc["lines"]]
    rows += _subtotals(ident, doc["lines"], ("tokens", "excluded_tokens"),
                       ("gross", "excluded", "basis", "share"), places_of(statement.currency))
    for section, key in (("adjustment", "adjustments"), ("tier", "tiers")):
        rows += [{**ident, "section": section, **item} for item in doc[key]]
    rows += [{**ident, "section": "total", "item": k, "value": v} for k, v in doc["totals"].items()]
    if "users" in doc:  # monthly active users: per model, then over all the contract's models
        users = doc["users"]
        rows += [{**ident, "section": "users", **m} for m in users["models"]]
        totals = {k: users[k] for k in ("end_users", "customers", "keys")}
        rows += [{**ident, "section": "users", "item": "all", **totals}]
    return _table(STATEMENT_COLUMNS, rows)


def invoice_csv(invoice: Invoice) -> bytes:
    """The invoice as one table: its document fields, usage lines, credits and totals."""
    doc = invoice.to_json()
    ident = {k: doc[k] for k in ("customer", "period", "currency")}
    rows: list[dict[str, Any]] = [{**ident, "section": "document", "item": k, "value": doc[k]}
                                  for k in _INVOICE_HEADER]
    rows += [{**ident, "section": "line", **item} for item in doc["lines"]]
    rows += _subtotals(ident, doc["lines"], ("tokens",), ("amount",), places_of(invoice.currency))
    rows += [{**ident, "section": "credit", **item} for item in doc["credits"]]
    rows += [{**ident, "section": "total", "item": k, "value": doc[k]}
             for k in ("subtotal", "credits_total", "total_due")]
    return _table(INVOICE_COLUMNS, rows)


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
