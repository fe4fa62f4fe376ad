"""The files a finance team opens: money at the minor unit, one table per CSV, the close's cut-off.

Issue 11, item 5. The JSON writes every money field at the currency's minor unit (padded, never
rounded; the documented higher-precision fields are per-unit prices); each CSV file is one table
that `csv` and `csv.DictReader` read back with every row as wide as the header, numbers as
numbers and no text cell a spreadsheet would run as a formula; a period closed early says so,
with its cut-off, in the JSON, the HTML and the CSV.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest

from revshare.config import Catalog
from revshare.settlement import (
    Credit,
    Invoice,
    LogRef,
    Period,
    SettlementState,
    Statement,
    aggregate,
    settle,
    window_for,
)
from revshare.settlement.render import (
    INVOICE_COLUMNS,
    STATEMENT_COLUMNS,
    invoice_csv,
    invoice_html,
    statement_csv,
    statement_html,
)
from revshare.settlement.rounding import amount_text
from tests.support.paths import REPO
from tests.support.settlement_builders import M, catalog, record

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+2", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

TIERS = [{"up_to": "1000", "share": "0.10"}, {"share": "0.05"}]


def hostile_catalog(currency: str = "USD") -> Catalog:
    """Tiers, a guarantee of "0", an exempt customer, a royalty, and names a spreadsheet would run."""
    prices = [{"model": m, "input_per_million": i, "output_per_million": o, "effective_from": "2025-01-01",
               "currency": currency}
              for m, i, o in (("llama-3", "1.00", "2.00"), ("llama-ft", "2.00", "4.00"), ("gemma", "0.0375", "1"))]
    return catalog([
        {"id": "meta-llama", "licensor": "meta", "lineage": "llama-3", "basis": "net", "tiers": TIERS,
         "exempt_customers": ["research-lab"], "effective_from": "2025-01-01", "currency": currency},
        {"id": "google-royalty", "licensor": "google", "models": ["gemma"], "effective_from": "2025-01-01",
         "royalty": [{"models": "gemma*", "direction": "output", "per_million": "0.125"}], "currency": currency},
    ], server={"host_name": HOSTILE[0]}, prices=prices,
        licensors=[{"id": "meta", "name": HOSTILE[3]}, {"id": "acme", "name": "Acme"}, {"id": "google", "name": "-G"}])


def close(cat: Catalog, currency: str = "USD", closed_at: datetime | None = None) -> tuple[
        tuple[Statement, ...], tuple[Invoice, ...]]:
    """January 2026: usage, an exempt customer, a refund whose reason starts with "=" and late usage."""
    prev = datetime(2026, 1, 1, 6, tzinfo=UTC) if closed_at is not None else None
    window = window_for(cat.contracts, Period(2026, 1), closed_at=closed_at, late_after=prev)
    recs = [record(cat, "2026-01-05", prompt=700 * M, completion=300 * M),
            record(cat, "2026-01-06", customer="research-lab", prompt=100 * M),
            record(cat, "2026-01-07", customer="bob", model="gemma", prompt=3 * M, completion=5 * M),
            record(cat, "2025-12-30", customer="bob", prompt=10 * M)]
    appended = {r.id: r.started_at if r.started_at.month == 1 else datetime(2026, 1, 2, tzinfo=UTC) for r in recs}
    credits = [Credit(f"cr-{i}", "alice", Decimal("5.00") if currency != "JPY" else Decimal(5), currency,
                      datetime(2026, 1, 9, tzinfo=UTC), reason, kind="refund", model="llama-3")
               for i, reason in enumerate(HOSTILE)]
    result = settle(cat, window, aggregate(recs, window, appended if closed_at else None),
                    prior=SettlementState(), credits=credits)
    assert not [e for e in result.errors if e.level == "error"]
    return result.statements, result.invoices


# -- 1. money at the minor unit -------------------------------------------------------------------

STATEMENT_MONEY = {
    "totals": ("gross", "excluded", "basis", "usage_share", "adjustments_basis", "adjustments_share", "earned",
               "minimum_guarantee", "true_up", "recouped", "amount_due", "recoupment_before", "recoupment_after"),
    "lines": ("gross", "excluded", "basis", "share"),
    "adjustments": ("amount", "excluded", "basis", "share"),
    "tiers": ("lower", "upper", "basis", "share"),
}
INVOICE_MONEY = {"": ("subtotal", "credits_total", "total_due"), "lines": ("amount",), "credits": ("amount",)}
# Per-unit prices: padded to the minor unit, their further decimals kept (docs/SETTLEMENT.md).
UNIT_PRICES = {"invoice lines": "unit_price_per_million", "segment royalties": "per_million"}


def money_fields(doc: dict[str, Any], fields: dict[str, tuple[str, ...]]) -> Iterator[tuple[str, str | None]]:
    for part, names in fields.items():
        items = [doc] if part == "" else doc[part] if isinstance(doc[part], list) else [doc[part]]
        for i, item in enumerate(items):
            for name in names:
                yield f"{part}[{i}].{name}", item[name]


def grid(currency: str) -> re.Pattern[str]:
    places = {"USD": 2, "JPY": 0, "KWD": 3}[currency]
    return re.compile(r"-?\d+" + (rf"\.\d{{{places}}}" if places else "") + "$")


@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD"])
def test_every_money_field_of_the_json_is_at_the_minor_unit(currency: str) -> None:
    statements, invoices = close(hostile_catalog(currency), currency)
    exact, unit = grid(currency), re.compile(r"-?\d+\.\d+$" if currency != "JPY" else r"-?\d+(\.\d+)?$")
    seen = 0
    for s in statements:
        doc = s.to_json()
        for path, value in money_fields(doc, STATEMENT_MONEY):
            if value is not None:
                seen += 1
                assert exact.match(value) and not re.match(r"-0\.?0*$", value), (s.contract, path, value)
        for seg in doc["segments"]:
            assert exact.match(seg["minimum_guarantee"]), seg
            assert all(t["up_to"] is None or exact.match(t["up_to"]) for t in seg["tiers"]), seg
            assert all(unit.match(r["per_million"]) for r in seg["royalty"]), seg
    for inv in invoices:
        doc = inv.to_json()
        for path, value in money_fields(doc, INVOICE_MONEY):
            seen += 1
            assert value is not None and exact.match(value), (inv.number, path, value)
        assert all(unit.match(x["unit_price_per_million"]) for x in doc["lines"]), doc["lines"]
    assert seen > 60
    if currency == "USD":
        meta = next(s for s in statements if s.contract == "meta-llama").to_json()
        assert meta["totals"]["recouped"] == "0.00" and meta["totals"]["minimum_guarantee"] == "0.00"
        assert meta["segments"][0]["minimum_guarantee"] == "0.00" and meta["segments"][0]["share"] is None
        assert [t["share"] for t in meta["segments"][0]["tiers"]] == ["0.10", "0.05"]  # rates: as in the catalog
        assert meta["segments"][0]["tiers"][0]["up_to"] == "1000.00"
        google = next(s for s in statements if s.contract == "google-royalty").to_json()
        assert google["segments"][0]["royalty"][0]["per_million"] == "0.125"  # a unit price keeps its decimals
        bob = next(i for i in invoices if i.customer == "bob").to_json()
        assert {x["unit_price_per_million"] for x in bob["lines"]} == {"0.0375", "1.00"}


# -- 2. one table per CSV file ---------------------------------------------------------------------

STATEMENT_NUMERIC = {"segment", "requests", "tokens", "excluded_tokens", "rate", "lower", "upper", "gross", "amount",
                     "excluded", "basis", "share"}
INVOICE_NUMERIC = {"requests", "tokens", "unit_price_per_million", "amount"}
NUMBER = re.compile(r"-?\d+(\.\d+)?$")


def read_table(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    text = data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    assert len(set(header)) == len(header), header
    assert all(len(r) == len(header) for r in rows), [len(r) for r in rows]
    assert header not in rows[1:]  # one header row
    dicts = list(csv.DictReader(io.StringIO(text, newline="")))
    assert all(None not in d and None not in d.values() for d in dicts)  # no cell beyond or short of the header
    return header, dicts


def check_cells(dicts: list[dict[str, str]], numeric: set[str]) -> None:
    for d in dicts:
        for column, cell in d.items():
            if column in numeric or (column == "value" and d["section"] == "total"):
                assert cell == "" or NUMBER.match(cell), (column, cell)  # numbers stay numbers
            else:
                assert not cell.startswith(FORMULA_START), (column, cell)  # no formula from a text cell


def test_each_statement_csv_is_one_table_with_numbers_as_numbers_and_no_formula() -> None:
    statements, _ = close(hostile_catalog())
    meta = next(s for s in statements if s.contract == "meta-llama")
    header, dicts = read_table(statement_csv(meta))
    assert header[:5] == ["licensor", "contract", "period", "currency", "section"]
    check_cells(dicts, STATEMENT_NUMERIC)
    sections = [d["section"] for d in dicts]
    assert sections == sorted(sections, key=["document", "line", "adjustment", "tier", "total"].index)
    assert {d["licensor"] for d in dicts} == {"meta"} and {d["period"] for d in dicts} == {"2026-01"}
    doc = {d["item"]: d["value"] for d in dicts if d["section"] == "document"}
    assert doc["host"] == "'" + HOSTILE[0] and doc["licensor_name"] == "'" + HOSTILE[3]
    totals = {d["item"]: d["value"] for d in dicts if d["section"] == "total"}
    assert totals["amount_due"] == meta.to_json()["totals"]["amount_due"] and totals["recouped"] == "0.00"
    refunds = [d for d in dicts if d["section"] == "adjustment" and d["kind"] == "refund"]
    assert sorted(d["reason"] for d in refunds) == sorted("'" + r for r in HOSTILE)  # quoted, still readable
    assert all(Decimal(d["amount"]) < 0 for d in refunds)  # a negative amount is a number, not quoted text
    tiers = [d for d in dicts if d["section"] == "tier"]
    assert [(t["lower"], t["upper"], t["rate"]) for t in tiers] == [("0.00", "1000.00", "0.10"), ("1000.00", "", "0.05")]
    # the figures add up read back from the CSV alone
    lines = [d for d in dicts if d["section"] == "line"]
    assert sum(Decimal(d["share"]) for d in lines) == Decimal(totals["usage_share"])


def test_each_invoice_csv_is_one_table_with_numbers_as_numbers_and_no_formula() -> None:
    _, invoices = close(hostile_catalog())
    alice = next(i for i in invoices if i.customer == "alice")
    header, dicts = read_table(invoice_csv(alice))
    assert header[:4] == ["customer", "period", "currency", "section"]
    check_cells(dicts, INVOICE_NUMERIC)
    credits = [d for d in dicts if d["section"] == "credit"]
    assert sorted(d["reason"] for d in credits) == sorted("'" + r for r in HOSTILE)
    totals = {d["item"]: d["value"] for d in dicts if d["section"] == "total"}
    assert totals == {"subtotal": alice.to_json()["subtotal"], "credits_total": "30.00",
                      "total_due": alice.to_json()["total_due"]}
    lines = [d for d in dicts if d["section"] == "line"]
    assert {d["late"] for d in lines} == {"false"}
    assert sum(Decimal(d["amount"]) for d in lines) == Decimal(totals["subtotal"])


# -- 3. a period closed early says so --------------------------------------------------------------

class Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible(page: bytes) -> str:
    p = Visible()
    p.feed(page.decode())
    return re.sub(r"\s+", " ", "".join(p.parts))


EARLY = datetime(2026, 1, 18, 10, 31, 7, tzinfo=UTC)


def test_a_period_closed_early_says_so_with_its_cutoff_in_json_html_and_csv() -> None:
    statements, invoices = close(hostile_catalog(), closed_at=EARLY)
    for doc, page, data in [*((s.to_json(), statement_html(s), statement_csv(s)) for s in statements),
                            *((i.to_json(), invoice_html(i), invoice_csv(i)) for i in invoices)]:
        assert doc["cutoff"] == "2026-01-18T10:31:07Z" and doc["closed_early"] is True
        text = visible(page)
        assert "January 2026 (closed early)" in text  # under the title
        assert "PeriodJanuary 2026 (1 Jan 2026 – 18 Jan 2026 10:31:07 UTC) closed early" in text  # not to 31 Jan
        assert "Cut-off18 Jan 2026 10:31:07 UTC: usage that reached the ledger later is " in text
        assert "This period was closed early, at 18 Jan 2026 10:31:07 UTC, before the month ended." in text
        _, dicts = read_table(data)
        fields = {d["item"]: d["value"] for d in dicts if d["section"] == "document"}
        assert fields["cutoff"] == "2026-01-18T10:31:07Z" and fields["closed_early"] == "true"


def test_a_period_closed_after_its_end_names_its_cutoff_and_is_not_early() -> None:
    statements, invoices = close(hostile_catalog(), closed_at=datetime(2026, 2, 2, 6, tzinfo=UTC))
    for doc, page in [*((s.to_json(), statement_html(s)) for s in statements),
                      *((i.to_json(), invoice_html(i)) for i in invoices)]:
        assert doc["cutoff"] == "2026-02-02T06:00:00Z" and doc["closed_early"] is False
        text = visible(page)
        assert "closed early" not in text and "PeriodJanuary 2026 (1 Jan 2026 – 31 Jan 2026, UTC)" in text
        assert "Cut-off2 Feb 2026 06:00:00 UTC: usage that reached the ledger later is " in text
    unclosed, _ = close(hostile_catalog())
    assert unclosed[0].to_json()["cutoff"] is None and unclosed[0].to_json()["closed_early"] is False


# -- 4. the page's verify command names the key the licensor holds -----------------------------------

def test_the_statement_page_verifies_with_the_held_key_not_the_bundles() -> None:
    statements, _ = close(hostile_catalog())
    page = statement_html(replace(statements[0], log=LogRef("host/revshare/meta", 3, "ab" * 32, 1, 3))).decode()
    assert "revshare verify statement BUNDLE --key HELD.vkey" in page
    assert "--key host.vkey" not in page
    assert "revshare log key" in visible(page.encode())


@pytest.mark.parametrize(("amount", "places", "text"), [
    ("0", 2, "0.00"), ("-0", 2, "0.00"), ("-0.000", 2, "0.00"), ("1E+3", 2, "1000.00"), ("5.000", 2, "5.00"),
    ("-50", 2, "-50.00"), ("0.0375", 2, "0.0375"), ("0.037500", 2, "0.0375"), ("1500", 0, "1500"),
    ("12.5", 3, "12.500"),
])
def test_amount_text_pads_to_the_minor_unit_and_never_rounds(amount: str, places: int, text: str) -> None:
    assert amount_text(Decimal(amount), places) == text


def test_the_csv_columns_are_those_docs_settlement_names() -> None:
    docs = re.sub(r"\s+", " ", (REPO / "docs" / "SETTLEMENT.md").read_text())
    assert f"`{', '.join(INVOICE_COLUMNS)}`" in docs
    assert f"`{', '.join(STATEMENT_COLUMNS[:4])}`" in docs and f"`{', '.join(STATEMENT_COLUMNS[5:7])}`" in docs
    assert f"(`{', '.join(STATEMENT_COLUMNS[7:])}`)" in docs
    assert STATEMENT_COLUMNS[4] == INVOICE_COLUMNS[3] == "section"
