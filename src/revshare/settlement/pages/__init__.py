"""Statements and invoices as readable, printable, self-contained HTML pages.

Each page is a pure function of the document's JSON form (`Statement.to_json()`,
`Invoice.to_json()`): no clock, no locale, no external asset, no script, so re-running a close
gives byte-identical pages. Every value from the document is escaped. Money arrives as strings
and is formatted for display with `Decimal` only (`text.money_text`).

    text             display text of values: money, counts, rates, dates, periods (no HTML)
    kit              the stylesheet and the HTML building blocks: page, tables, definition lists
    terms_words      contract terms in words (the statement's "Contract terms" section)
    statement_page   the licensor statement page
    invoice_page     the customer invoice page
"""

from __future__ import annotations

from revshare.settlement.pages.invoice_page import invoice_page
from revshare.settlement.pages.statement_page import statement_page
from revshare.settlement.pages.terms_words import terms_sentence
from revshare.settlement.pages.text import count_text, money_text, percent_text

__all__ = [
    "count_text",
    "invoice_page",
    "money_text",
    "percent_text",
    "statement_page",
    "terms_sentence",
]
