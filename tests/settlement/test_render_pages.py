"""The HTML statement and invoice pages read like a billing system's: what a reader sees, not reprs.

A statement with marginal tiers, a recoupable guarantee, an exempt customer, a refund and a
contract change mid-month, and the invoices of the same close, are rendered and their visible
text checked: the total due with its currency, the terms in words, every amount at the
currency's minor unit, no Python repr anywhere, every value escaped, no external asset.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from revshare.money import MoneyError
from revshare.settlement import Credit, Period, SettlementState, aggregate, settle, window_for
from revshare.settlement.invoice import Invoice
from revshare.settlement.pages import count_text, money_text, percent_text
from revshare.settlement.render import invoice_csv, invoice_html, statement_csv, statement_html
from revshare.settlement.statement import LeafSet, LogRef, Statement
from tests.support.settlement_builders import M, catalog, record

TIERS = [{"up_to": "1000", "share": "0.10"}, {"up_to": "10000", "share": "0.08"}, {"share": "0.05"}]
CAT = catalog([
    {"id": "meta-llama", "licensor": "meta", "lineage": "llama-3", "basis": "net", "tiers": TIERS,
     "minimum_guarantee": "500.00", "recoupable": True, "exempt_customers": ["research-lab"],
     "effective_from": "2025-01-01", "effective_to": "2026-02-15"},
    {"id": "meta-llama", "licensor": "meta", "lineage": "llama-3", "basis": "net", "minimum_guarantee": "500.00",
     "recoupable": True, "tiers": [{"up_to": "1000", "share": "0.12"}, {"up_to": "10000", "share": "0.09"},
                                   {"share": "0.06"}],
     "exempt_customers": ["research-lab"], "exempt_keys": ["key-<internal>"], "effective_from": "2026-02-15"},
], licensors=[{"id": "meta", "name": "Meta & <Friends>"}, {"id": "acme", "name": "Acme"},
              {"id": "google", "name": "Google"}])
MONEY = re.compile(r"^-?\d{1,3}(,\d{3})*\.\d{2}$")


def settled() -> tuple[Statement, Statement, tuple[Invoice, ...]]:
    """January earns 20.00 (a 480.00 true-up); February earns 951.05 and recoups 451.05."""
    jan_w = window_for(CAT.contracts, Period(2026, 1))
    jan = settle(CAT, jan_w, aggregate([record(CAT, "2026-01-05", prompt=100 * M, completion=50 * M)], jan_w),
                 prior=SettlementState())
    feb_w = window_for(CAT.contracts, Period(2026, 2))
    feb_recs = [record(CAT, "2026-02-03", prompt=4000 * M, completion=1500 * M),
                record(CAT, "2026-02-10", customer="research-lab", prompt=300 * M),
                record(CAT, "2026-02-20", customer="bob", prompt=2500 * M, completion=900 * M),
                record(CAT, "2026-02-21", customer="bob", model="llama-ft", prompt=123 * M, completion=45 * M)]
    refund = Credit("cr-1", "alice", Decimal("50.00"), "USD", datetime(2026, 2, 3, tzinfo=UTC),
                    "Outage <script>x</script> & retry", kind="refund", model="llama-3", refers_to="2026-01")
    feb = settle(CAT, feb_w, aggregate(feb_recs, feb_w), prior=jan.state, credits=[refund])
    meta = [s for s in feb.statements if s.licensor == "meta"]
    return jan.statements[0], meta[0], feb.invoices


INLINE = {"span", "code", "strong", "b", "i", "em", "a"}


class Page(HTMLParser):
    """Visible text, and every table cell with its column header (group rows skipped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.cells: list[tuple[str, str]] = []  # (column header, cell text); "sum" for summary tables
        self._skip = 0
        self._tables: list[dict[str, object]] = []
        self._cell: list[str] | None = None
        self._col = 0
        self._section = ""
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in INLINE:
            self.text.append(" ")
        if tag in ("style", "title"):
            self._skip += 1
        elif tag == "table":
            self._tables.append({"head": [], "sum": dict(attrs).get("class") == "sum"})
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr":
            self._col = 0
        elif tag in ("td", "th"):
            self._cell = [] if "colspan" not in dict(attrs) else None

    def handle_endtag(self, tag: str) -> None:
        if tag not in INLINE:
            self.text.append(" ")
        if tag in ("style", "title"):
            self._skip -= 1
        elif tag == "table":
            self._tables.pop()
        elif tag in ("td", "th") and self._cell is not None and self._tables:
            text = " ".join("".join(self._cell).split())
            table = self._tables[-1]
            head = table["head"]
            assert isinstance(head, list)
            if self._section == "thead":
                head.append(text)
            else:
                column = ("sum" if self._col == 1 else "label") if table["sum"] else (
                    head[self._col] if self._col < len(head) else "?")
                self.cells.append((column, text))
            self._col += 1
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def visible(self) -> str:
        return " ".join("".join(self.text).split())


def parse(page: bytes) -> Page:
    p = Page()
    p.feed(page.decode("utf-8"))
    p.close()
    return p


MONEY_COLUMNS = {"Gross", "Exempt", "Basis", "Share", "Amount", "Basis in band", "sum", "Amount (USD)",
                 "Unit price (USD per 1M tokens)"}


def assert_money_cells_at_minor_unit(p: Page) -> int:
    money = [(col, text) for col, text in p.cells if col in MONEY_COLUMNS and text not in ("", "—")]
    bad = [(col, text) for col, text in money if not MONEY.match(text)]
    assert bad == []
    return len(money)


def assert_no_reprs(p: Page) -> None:
    for repr_bit in ("None", "[]", "{'", "'}", "':", "Decimal(", "True", "False", "_share", "amount_due"):
        assert repr_bit not in p.visible, repr_bit


def test_statement_page_shows_the_essentials_in_words() -> None:
    _, feb, _ = settled()
    page = statement_html(feb)
    p = parse(page)
    text = p.visible
    assert feb.totals.amount_due == Decimal("500.00") and feb.totals.recouped == Decimal("451.05")
    # the total due, emphasised, with its currency
    assert '<div class="amount">500.00<span class="cur">USD</span></div>' in page.decode()
    assert "Amount due (USD) 500.00" in text
    # the terms in words, per segment of the mid-month change
    assert "Marginal tiers on net revenue: 10% up to 1,000.00; 8% up to 10,000.00; 5% above." in text
    assert "Marginal tiers on net revenue: 12% up to 1,000.00; 9% up to 10,000.00; 6% above." in text
    assert "Minimum guarantee 500.00 per month, recoupable from later earnings." in text
    assert "Segment 1: 1 Feb 2026 – 14 Feb 2026" in text and "Segment 2: 15 Feb 2026 – 28 Feb 2026" in text
    # the guarantee explained, the recoupment balance before and after
    assert "451.05 USD recoups earlier true-ups" in text
    assert "Recoupment balance: 480.00 USD at the start of the period, 28.95 USD at its end." in text
    assert "guarantee is the monthly guarantee of each segment's terms, prorated" in text
    # header: parties, number, period, previous statement shortened with the full hash in a tooltip
    assert "Meta & <Friends>" in text and "Statement number 2" in text and "February 2026" in text
    assert feb.previous_hash is not None
    assert f'title="{feb.previous_hash}">{feb.previous_hash[:12]}…{feb.previous_hash[-4:]}<' in page.decode()
    # lines, tiers and adjustments, amounts at the minor unit with thousands separators
    assert "12,026.00" in text and "4,300,000,000" in text and "Basis in band" in text
    assert "Refund — Outage <script>x</script> & retry" in text
    assert assert_money_cells_at_minor_unit(p) > 40
    assert_no_reprs(p)


def test_invoice_page_shows_the_essentials_in_words() -> None:
    _, _, invoices = settled()
    alice = next(i for i in invoices if i.customer == "alice")
    page = invoice_html(alice)
    p = parse(page)
    text = p.visible
    due = money_text(format(alice.total_due, "f"), "USD")
    assert due == "6,950.00"
    assert f'<div class="amount">{due}<span class="cur">USD</span></div>' in page.decode()
    assert f"Total due (USD) {due}" in text and "Bill to (customer) alice" in text
    assert "Less credits, refunds and discounts -50.00" in text and "prices of 2025-01-01" in text
    assert assert_money_cells_at_minor_unit(p) >= 8
    assert_no_reprs(p)


def test_a_negative_invoice_is_a_credit_note() -> None:
    _, _, invoices = settled()
    alice = next(i for i in invoices if i.customer == "alice")
    note = replace(alice, lines=(), subtotal=Decimal("0.00"), total_due=-alice.credits_total)
    text = parse(invoice_html(note)).visible
    assert text.startswith("Credit note") and "Credit to your account 50.00USD" in text
    assert "No usage in this period." in text


def test_first_statement_true_up_and_no_log() -> None:
    jan, _, _ = settled()
    p = parse(statement_html(jan))
    text = p.visible
    assert "none: the first statement of this contract" in text
    assert ("Earnings of 20.00 USD fell short of the period's minimum guarantee of 500.00 USD, so a true-up of "
            "480.00 USD is paid now. The guarantee is recoupable") in text
    assert "No adjustments this period." in text and "not bound to a log checkpoint" in text
    assert_money_cells_at_minor_unit(p)
    assert_no_reprs(p)


def test_log_binding_is_shown_with_how_to_verify() -> None:
    _, feb, _ = settled()
    root, prev_root = "ab" * 32, "cd" * 32
    bound = replace(feb, log=LogRef("example-host/revshare/meta", 1_234_567, root, 1001, 2000, previous_size=1000,
                                    previous_root=prev_root, after_seq=1000, through_seq=2000, cut_seqs=(1500,),
                                    carried=LeafSet(3, "ef" * 32)))
    page = statement_html(bound).decode()
    text = parse(page.encode()).visible
    assert "example-host/revshare/meta" in text and "size 1,234,567" in text
    assert f'title="{root}">{root[:12]}…{root[-4:]}<' in page and f'title="{prev_root}"' in page
    assert "1,233,567 leaves: indices 1,000 – 1,234,566, ledger seq 1,001 – 2,000" in text
    assert "3 earlier leaves of this period" in text and "last seq before each cut: 1,500" in text
    assert "revshare verify statement BUNDLE --key HELD.vkey" in text  # the key the licensor holds, not the bundle's
    assert "--period 2026-02 --licensor meta" in text


def test_pages_are_self_contained_escaped_and_printable() -> None:
    jan, feb, invoices = settled()
    for page in [statement_html(jan), statement_html(feb), *(invoice_html(i) for i in invoices)]:
        p = parse(page)
        assert [t for t, _ in p.tags if t in ("script", "link", "img", "iframe", "object")] == []
        assert all("src" not in attrs and "href" not in attrs for _, attrs in p.tags)
        raw = page.decode()
        assert "http:" not in raw and "https:" not in raw and "url(" not in raw and "@import" not in raw
        assert "@media print" in raw and "@page" in raw
        assert "<script>" not in raw
    raw = statement_html(feb).decode()
    assert "&lt;script&gt;x&lt;/script&gt; &amp; retry" in raw and "key-&lt;internal&gt;" in raw
    assert "Meta &amp; &lt;Friends&gt;" in raw
    assert statement_html(feb) == statement_html(settled()[1])


def test_csv_and_json_money_read_at_the_minor_unit() -> None:
    jan, _, invoices = settled()
    doc = jan.to_json()
    assert doc["totals"]["recouped"] == "0.00" and doc["lines"][0]["excluded"] == "0.00"  # the JSON: minor unit too
    rows = list(csv.DictReader(io.StringIO(statement_csv(jan).decode(), newline="")))
    totals = {r["item"]: r["value"] for r in rows if r["section"] == "total"}
    assert totals["recouped"] == "0.00" and totals["recoupment_before"] == "0.00" and totals["amount_due"] == "500.00"
    line = next(r for r in rows if r["section"] == "line")
    assert line["excluded"] == "0.00" and line["tokens"] == str(150 * M // 3 * 2)
    tier = next(r for r in rows if r["section"] == "tier")
    assert tier["lower"] == "0.00" and tier["rate"] == "0.10"
    inv = list(csv.DictReader(io.StringIO(invoice_csv(invoices[0]).decode(), newline="")))
    assert all(re.fullmatch(r"-?\d+\.\d{2}", r["value"]) for r in inv if r["section"] == "total")  # no grouping
    assert json.loads(json.dumps(doc)) == doc


@pytest.mark.parametrize(("text", "currency", "shown"), [
    ("0", "USD", "0.00"), ("-0", "USD", "0.00"), ("1234567.5", "USD", "1,234,567.50"), ("-50", "USD", "-50.00"),
    ("0.0375", "USD", "0.0375"), ("0", "JPY", "0"), ("1500", "JPY", "1,500"), ("12.5", "KWD", "12.500"),
])
def test_money_text_pads_to_the_minor_unit_and_never_rounds(text: str, currency: str, shown: str) -> None:
    assert money_text(text, currency) == shown


def test_display_helpers() -> None:
    assert [percent_text(r) for r in ("0.10", "0.075", "1", "0.125")] == ["10%", "7.5%", "100%", "12.5%"]
    assert count_text(1234567) == "1,234,567"
    with pytest.raises(MoneyError):
        money_text(0.1, "USD")  # type: ignore[arg-type]


def test_royalty_and_flat_terms_in_words_and_segments_with_the_same_terms_shown_once() -> None:
    cat = catalog([
        {"id": "google-royalty", "licensor": "google", "models": ["gemma"], "effective_from": "2025-01-01",
         "royalty": [{"models": "gemma*", "direction": "output", "per_million": "0.50"}]},
        {"id": "acme-ft", "licensor": "acme", "models": ["llama-ft"], "share": "0.075", "effective_from": "2025-01-01",
         "effective_to": "2026-02-15"},  # cuts the window in two for every contract
    ])
    window = window_for(cat.contracts, Period(2026, 2))
    r = settle(cat, window, aggregate([record(cat, "2026-02-20", model="gemma", completion=3 * M),
                                       record(cat, "2026-02-02", model="llama-ft", prompt=M)], window))
    pages = {s.contract: parse(statement_html(s)).visible for s in r.statements}
    royalty = pages["google-royalty"]
    assert "Per-token royalty: 0.50 per million output tokens of models matching gemma*." in royalty
    assert "Segments 1–2: 1 Feb 2026 – 28 Feb 2026" in royalty and "The terms changed" not in royalty
    assert "This contract has no minimum guarantee" in royalty and "Amount due (USD) 1.50" in royalty
    flat = pages["acme-ft"]
    assert "Flat share: 7.5% of gross revenue." in flat and "Segment 1: 1 Feb 2026 – 14 Feb 2026" in flat
    assert "No contract version in force: nothing is earned." in flat and "The terms changed" in flat
