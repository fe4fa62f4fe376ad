"""The invoice page: a customer's invoice (or credit note) as a readable, printable HTML page.

Sections, in order: the amount due, the parties and references, usage lines per model,
direction and price version (grouped by what they bill, chat or embeddings, each group with its
subtotal, when some line bills embeddings), the credits applied, and the total.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revshare.money import D, minor_unit
from revshare.settlement.kinds import apart, kind_groups
from revshare.settlement.pages.kit import (
    Cell,
    close_note,
    count_html,
    cutoff_row,
    date_cell,
    due_box,
    escape,
    group_row,
    meta_list,
    money_html,
    page,
    period_html,
    row,
    source_footer,
    sum_row,
    sum_table,
    table,
)
from revshare.settlement.pages.text import (
    KIND_WORDS,
    MODEL_KIND_WORDS,
    date_of,
    money_sum,
    money_text,
    negated,
    period_text,
)

__all__ = ["invoice_page"]


def _price_version(version: str) -> str:
    """`model@2026-01-01T00:00:00Z` as "prices of 2026-01-01", the full version in a tooltip."""
    _, at, when = version.partition("@")
    day = date_of(when) if at else None
    shown = f"prices of {day}" if day else version
    return f'<span title="{escape(version)}">{escape(shown)}</span>'


def _line_row(x: Mapping[str, Any], cur: str) -> str:
    model = f"<code>{escape(x['model'])}</code>"
    if x["late"]:
        model += (' <span class="tag" title="usage of an earlier, closed period that reached the ledger after '
                  'its close">late usage</span>')
    model += f'<br><span class="small muted">{_price_version(x["price_version"])}</span>'
    return row([
        (model, False), (escape(x["direction"]), False), (count_html(x["requests"]), True),
        (count_html(x["tokens"]), True), (money_html(x["unit_price_per_million"], cur), True),
        (money_html(x["amount"], cur), True),
    ])


def _usage_section(doc: Mapping[str, Any]) -> str:
    """The usage lines; when some bill embeddings, grouped by what they bill, each group with its subtotal."""
    cur = doc["currency"]
    lines = doc["lines"]
    out = "<h2>Usage</h2>\n"
    if not lines:
        return out + '<p class="muted">No usage in this period.</p>\n'
    head: list[Cell] = [("Model", False), ("Direction", False), ("Requests", True), ("Tokens", True),
                        (f"Unit price ({escape(cur)} per 1M tokens)", True), (f"Amount ({escape(cur)})", True)]
    body = []
    grouped = apart(lines)
    for kind, group in kind_groups(lines):
        if grouped:
            body.append(group_row(escape(MODEL_KIND_WORDS.get(kind, kind)), len(head)))
        body += [_line_row(x, cur) for x in group]
        if grouped:
            body.append(row([(f"Subtotal: {escape(MODEL_KIND_WORDS.get(kind, kind).lower())}", False),
                             ("", False), ("", True), (count_html(sum(x["tokens"] for x in group)), True), ("", True),
                             (money_html(money_sum(x["amount"] for x in group), cur), True)], cls="subtotal"))
    foot: list[Cell] = [("Subtotal", False), ("", False), ("", True), ("", True), ("", True),
                        (money_html(doc["subtotal"], cur), True)]
    out += table(head, "".join(body), foot)
    if any(x["late"] for x in lines):
        out += ('<p class="note">Late usage: requests of an earlier, already closed period that reached the '
                "ledger after its close are billed in this period.</p>\n")
    return out


def _credits_section(doc: Mapping[str, Any]) -> str:
    cur = doc["currency"]
    credits = doc["credits"]
    if not credits:
        return ""
    head: list[Cell] = [("Date", False), ("Kind", False), ("Reason", False), ("Reference", False),
                        (f"Amount ({escape(cur)})", True)]
    body = [row([(date_cell(c["date"]), False), (escape(KIND_WORDS.get(c["kind"], c["kind"])), False),
                 (escape(c["reason"]), False), (f"<code>{escape(c['id'])}</code>", False),
                 (money_html(negated(c["amount"]), cur), True)])
            for c in credits]
    foot: list[Cell] = [("Total credits", False), ("", False), ("", False), ("", False),
                        (money_html(negated(doc["credits_total"]), cur), True)]
    return "<h2>Credits applied</h2>\n" + table(head, "".join(body), foot)


def _total_section(doc: Mapping[str, Any], owed: str | None) -> str:
    """The total; `owed`, for a credit note, is what the customer is owed."""
    cur = doc["currency"]
    out = "<h2>Total</h2>\n" + sum_table([
        sum_row("Usage subtotal", money_html(doc["subtotal"], cur)),
        sum_row("Less credits, refunds and discounts", money_html(negated(doc["credits_total"]), cur)),
        sum_row(f"Total due ({escape(cur)})", money_html(doc["total_due"], cur), "due"),
    ])
    if owed is not None:
        out += (f'<p class="note">Credits exceed this period\'s usage: {money_html(owed, cur)} '
                f"{escape(cur)} is owed to the customer (a credit note).</p>\n")
    return out


def invoice_page(doc: Mapping[str, Any]) -> bytes:
    """The HTML page of an invoice's JSON form (a credit note when the total is negative)."""
    cur = doc["currency"]
    credit_note = D(doc["total_due"]) < 0
    kind = "Credit note" if credit_note else "Invoice"
    period_words = period_text(doc["period"])
    early = " (closed early)" if doc.get("closed_early") else ""
    meta = [
        ("Invoice number", f"<code>{escape(doc['number'])}</code>"),
        ("Period", period_html(doc)),
        *([cut] if (cut := cutoff_row(doc, "billed")) else []),
        ("Currency", escape(cur)),
    ]
    due_label, due_amount = (("Credit to your account", negated(doc["total_due"])) if credit_note
                             else ("Total due", doc["total_due"]))
    top = (f'<div class="top"><div><h1>{escape(kind)}</h1><div class="sub">{escape(period_words)}{early} · no. '
           f'<code>{escape(doc["number"])}</code></div></div>' + due_box(due_label, money_text(due_amount, cur), cur)
           + "</div>\n")
    parties = (f'<div class="parties"><div><div class="label">From</div><div class="who">{escape(doc["host"])}'
               f'</div></div><div><div class="label">Bill to (customer)</div><div class="who">'
               f'{escape(doc["customer"])}</div></div><div class="meta-wide">{meta_list(meta)}</div></div>\n')
    intro = (f'<p class="note">Usage of the models served by <strong>{escape(doc["host"])}</strong> in '
             f"{escape(period_words)}. Prices are per million tokens; each line is rounded once to "
             f"{minor_unit(cur)} decimal places (half to even).</p>\n")
    body = (top + parties + intro + close_note(doc, "invoice", "billed") + _usage_section(doc) + _credits_section(doc)
            + _total_section(doc, due_amount if credit_note else None) + source_footer("invoice"))
    return page(f"{kind} {doc['number']} · {doc['customer']} · {doc['period']}", body)
