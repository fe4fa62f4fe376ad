"""Embedding lines apart: a close over a chat model and an embedding model labels every invoice
line, statement line and adjustment with what it bills (`model_kind`), and the CSV and HTML show
the embedding lines in a group of their own whose subtotal, with the chat one, adds up to the total."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

from revshare.settlement import (
    Period,
    aggregate,
    invoice_csv,
    invoice_html,
    settle,
    statement_csv,
    statement_html,
    window_for,
)
from revshare.settlement.bundle_terms import StatementTerms, models_with_lineage
from tests.support.embedding_settlement import close, embedding_catalog
from tests.support.settlement_builders import M, record


def test_every_line_says_what_it_bills_and_the_amounts_are_unchanged() -> None:
    result = close(embedding_catalog())
    alice = next(i for i in result.invoices if i.customer == "alice")
    assert [(x["model"], x["model_kind"], x["direction"], x["tokens"], x["amount"]) for x in alice.to_json()["lines"]] \
        == [("llama-3", "chat", "input", 3 * M, "3.00"), ("llama-3", "chat", "output", M, "2.00"),
            ("minilm", "embedding", "input", 30 * M, "1.50")]
    assert alice.subtotal == Decimal("6.50")
    (st,) = result.statements
    doc = st.to_json()
    assert [(x["model"], x["model_kind"], x["direction"], x["gross"], x["share"]) for x in doc["lines"]] == [
        ("llama-3", "chat", "input", "4.00", "0.40"), ("llama-3", "chat", "output", "2.00", "0.20"),
        ("minilm", "embedding", "input", "1.85", "0.18")]  # 1.50 + 0.35; 10% is 0.185 -> 0.18 (half-even)
    assert doc["totals"]["gross"] == "7.85" and doc["totals"]["usage_share"] == "0.78"
    # the label adds no key: the same usage with minilm as a chat model gives the same lines and amounts
    plain = close(embedding_catalog(kind="chat"))
    assert [replace(x, model_kind="chat") for x in alice.lines] == list(
        next(i for i in plain.invoices if i.customer == "alice").lines)
    assert [replace(x, model_kind="chat") for x in st.lines] == list(plain.statements[0].lines)
    assert {x["model_kind"] for x in plain.statements[0].to_json()["lines"]} == {"chat"}


def table(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


def test_the_csv_has_a_subtotal_row_per_kind_that_adds_up() -> None:
    result = close(embedding_catalog())
    bob = next(i for i in result.invoices if i.customer == "bob")
    rows = table(invoice_csv(bob))
    assert [r["section"] for r in rows if r["section"] in ("line", "subtotal")] == ["line", "line", "subtotal",
                                                                                    "subtotal"]
    subtotals = {r["model_kind"]: r for r in rows if r["section"] == "subtotal"}
    assert {k: (r["item"], r["tokens"], r["amount"]) for k, r in subtotals.items()} == {
        "chat": ("chat", str(M), "1.00"), "embedding": ("embedding", str(7 * M), "0.35")}
    total = next(r["value"] for r in rows if r["section"] == "total" and r["item"] == "subtotal")
    assert sum(Decimal(r["amount"]) for r in subtotals.values()) == Decimal(total) == bob.subtotal
    assert {r["model_kind"] for r in rows if r["section"] == "line"} == {"chat", "embedding"}

    (st,) = result.statements
    rows = table(statement_csv(st))
    subtotals = {r["model_kind"]: r for r in rows if r["section"] == "subtotal"}
    assert set(subtotals) == {"chat", "embedding"}
    totals = {r["item"]: r["value"] for r in rows if r["section"] == "total"}
    for column, total in (("gross", "gross"), ("basis", "basis"), ("share", "usage_share")):
        assert sum(Decimal(r[column]) for r in subtotals.values()) == Decimal(totals[total]), column
    assert subtotals["embedding"]["gross"] == "1.85" and subtotals["embedding"]["tokens"] == str(37 * M)


class Rows(HTMLParser):
    """The visible text of each table row of a page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self._cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self._cells = []
        elif tag in ("td", "th") and self._cells is not None:
            self._cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._cells is not None:
            self.rows.append(re.sub(r"\s+", " ", " | ".join(c.strip() for c in self._cells)))
            self._cells = None

    def handle_data(self, data: str) -> None:
        if self._cells:
            self._cells[-1] += data


def rows_of(page: bytes) -> list[str]:
    parser = Rows()
    parser.feed(page.decode())
    return parser.rows


def test_the_pages_show_the_embedding_lines_in_a_group_with_its_subtotal() -> None:
    result = close(embedding_catalog())
    alice = next(i for i in result.invoices if i.customer == "alice")
    rows = rows_of(invoice_html(alice))
    chat, embeddings = rows.index("Chat, completions and responses"), rows.index("Embeddings")
    assert chat < embeddings
    assert any(r.startswith("Subtotal: chat, completions and responses") and r.endswith("5.00")
               for r in rows[chat:embeddings])
    assert any("minilm" in r for r in rows[embeddings:]) and not any("minilm" in r for r in rows[:embeddings])
    assert any(r.startswith("Subtotal: embeddings") and r.endswith("1.50") for r in rows[embeddings:])

    (st,) = result.statements
    rows = rows_of(statement_html(st))
    embeddings = rows.index("Embeddings")
    sub = next(r for r in rows[embeddings:] if r.startswith("Subtotal: embeddings"))
    assert sub.split(" | ")[-4:] == ["1.85", "0.00", "1.85", "0.18"]  # gross, exempt, basis, share


def test_a_close_without_embeddings_renders_as_before() -> None:
    cat = embedding_catalog()
    window = window_for(cat.contracts, Period.parse("2026-01"))
    result = settle(cat, window, aggregate([record(cat, "2026-01-05", "alice", "llama-3", M, M)], window))
    (inv,) = result.invoices
    assert {x["model_kind"] for x in inv.to_json()["lines"]} == {"chat"}
    assert "subtotal" not in {r["section"] for r in table(invoice_csv(inv))}
    assert "Embeddings" not in rows_of(invoice_html(inv))
    assert "Chat, completions and responses" not in rows_of(statement_html(result.statements[0]))


def test_a_bundles_terms_carry_each_models_kind() -> None:
    cat = embedding_catalog()
    models = models_with_lineage(["minilm", "llama-3"], cat.models)
    assert [(m.id, m.kind) for m in models] == [("llama-3", "chat"), ("minilm", "embedding")]
    terms = StatementTerms.from_json({"type": "revshare.statement-terms/v1", "host": "h", "licensors": [],
                                      "contracts": [], "models": [{"id": "old", "base_model": None}], "prices": []})
    assert terms.models[0].kind == "chat"  # terms written before kinds: a chat model
    again = StatementTerms.from_json({**terms.to_json(), "models": [{"id": m.id, "base_model": None, "kind": m.kind}
                                                                    for m in models]})
    assert [m.kind for m in again.models] == ["chat", "embedding"]


def test_the_groups_hold_each_segments_lines_and_still_add_up() -> None:
    # a contract change mid-month cuts the window in two segments, each with chat and embedding lines
    versions = [{"id": "meta-all", "licensor": "meta", "models": ["llama-3", "minilm"], "share": share,
                 "effective_from": start, **({"effective_to": end} if end else {})}
                for share, start, end in (("0.10", "2025-01-01", "2026-01-15"), ("0.20", "2026-01-15", None))]
    (st,) = close(embedding_catalog(contracts=versions)).statements
    assert [(x.segment, x.model_kind) for x in st.lines] == [(0, "chat"), (0, "chat"), (0, "embedding"),
                                                             (1, "chat"), (1, "embedding")]
    rows = table(statement_csv(st))
    subtotals = {r["model_kind"]: r for r in rows if r["section"] == "subtotal"}
    totals = {r["item"]: r["value"] for r in rows if r["section"] == "total"}
    assert sum(Decimal(r["share"]) for r in subtotals.values()) == Decimal(totals["usage_share"])
    assert subtotals["embedding"]["share"] == "0.22"  # 30M x 0.05 x 10% = 0.15, 7M x 0.05 x 20% = 0.07
    page = rows_of(statement_html(st))
    embeddings = page.index("Embeddings")
    assert [r for r in page[embeddings:] if r.startswith("Segment")] == [
        r for r in page[:embeddings] if r.startswith("Segment")]  # both segments in each group
