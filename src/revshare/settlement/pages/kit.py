"""The page kit: the one stylesheet and the HTML building blocks every page is made of.

A page is `page(title, body)`: one self-contained document, its CSS inline, no script, no
external asset. Every value that comes from a document goes through `escape`; helpers that
take HTML (`meta_list`, `table`, `row`) say so.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from revshare.settlement.pages.text import (
    count_text,
    cutoff_span_text,
    date_of,
    instant_text,
    money_text,
    next_period_text,
    period_text,
    span_text,
)

__all__ = [
    "MUTED_DASH",
    "STYLE",
    "Cell",
    "close_note",
    "count_html",
    "cutoff_row",
    "date_cell",
    "due_box",
    "escape",
    "group_row",
    "hash_code",
    "meta_list",
    "money_html",
    "page",
    "period_html",
    "row",
    "source_footer",
    "sum_row",
    "sum_table",
    "table",
]

Cell = tuple[str, bool]  # (HTML, numeric)
MUTED_DASH = '<span class="muted">—</span>'


def escape(value: object) -> str:
    """Any value as HTML text, quotes included."""
    return html.escape(str(value), quote=True)


def money_html(text: str, currency: str) -> str:
    """A document's money string as escaped display text (`money_text`)."""
    return escape(money_text(text, currency))


def count_html(n: int) -> str:
    """A count as escaped display text (`count_text`)."""
    return escape(count_text(n))


def _short(digest: str) -> str:
    return digest if len(digest) <= 16 else f"{digest[:12]}…{digest[-4:]}"


def hash_code(digest: str) -> str:
    """A hex digest, shortened, the full value in a tooltip."""
    return f'<code class="hash" title="{escape(digest)}">{escape(_short(digest))}</code>'


def date_cell(text: str) -> str:
    """An ISO timestamp as its UTC date, the full value in a tooltip; "" as a dash."""
    if not text:
        return MUTED_DASH
    shown = date_of(text) or text
    return f'<span class="date" title="{escape(text)}">{escape(shown)}</span>'


def period_html(doc: Mapping[str, Any]) -> str:
    """A document's period in words and dates: "January 2026 (1 Jan 2026 – 31 Jan 2026, UTC)"; closed
    early: "January 2026 (1 Jan 2026 – 18 Jan 2026 10:31:07 UTC) closed early", up to its cut-off."""
    words = escape(period_text(doc["period"]))
    if doc.get("closed_early"):
        span = cutoff_span_text(doc["period_start"], doc["cutoff"])
        return f'{words} <span class="muted">({escape(span)})</span> <span class="tag">closed early</span>'
    span = span_text(doc["period_start"], doc["period_end"])
    return f'{words} <span class="muted">({escape(span)}, UTC)</span>'


def cutoff_row(doc: Mapping[str, Any], verb: str = "settled") -> tuple[str, str] | None:
    """The meta row naming the close's cut-off (None when the document has none); `verb`: what
    happens to later usage ("settled" on a statement, "billed" on an invoice)."""
    cutoff = doc.get("cutoff")
    if cutoff is None:
        return None
    when = f'<span class="date" title="{escape(cutoff)}">{escape(instant_text(cutoff))}</span>'
    later = escape(next_period_text(doc["period"]))
    return ("Cut-off", f'{when}<span class="muted">: usage that reached the ledger later is {escape(verb)} in '
                       f"{later} as late usage</span>")


def close_note(doc: Mapping[str, Any], what: str, verb: str = "settled") -> str:
    """A paragraph saying the period was closed early and what that means ("" when it was not);
    `what`: "statement" or "invoice", `verb` as for `cutoff_row`."""
    if not doc.get("closed_early"):
        return ""
    month, cutoff = escape(period_text(doc["period"])), escape(instant_text(doc["cutoff"]))
    return (f'<p class="note"><strong>This period was closed early</strong>, at {cutoff}, before the month ended. '
            f"This {escape(what)} covers the usage of {month} that reached the ledger before that instant; usage "
            f"of {month} that reached it later is {escape(verb)} in {escape(next_period_text(doc['period']))} as "
            "late usage.</p>\n")


# -- the page ------------------------------------------------------------------------------------

STYLE = """
*{box-sizing:border-box}
html{background:#fff}
body{margin:0;color:#1b1b1b;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:960px;margin:0 auto;padding:32px 36px 40px}
h1{font-size:24px;margin:0;letter-spacing:-.01em}
h2{font-size:15px;margin:30px 0 8px;padding-bottom:4px;border-bottom:1px solid #d0d0d0;break-after:avoid}
h3{font-size:13px;margin:14px 0 4px}
p{margin:6px 0}
.sub{color:#555;margin-top:2px}
.top{display:flex;justify-content:space-between;align-items:flex-start;gap:24px;padding-bottom:14px;
border-bottom:2px solid #1b1b1b}
.duebox{border:2px solid #1b1b1b;border-radius:4px;padding:10px 16px;text-align:right;min-width:220px}
.duebox .label{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:#444}
.duebox .amount{font-size:26px;font-weight:700;font-variant-numeric:tabular-nums;white-space:nowrap}
.duebox .cur{font-size:15px;font-weight:600;margin-left:4px}
.parties{display:grid;grid-template-columns:1fr 1fr;gap:24px;margin-top:14px}
.parties .meta-wide{grid-column:1/-1}
.parties .who{font-size:16px;font-weight:600}
.label{color:#555;font-size:11px;text-transform:uppercase;letter-spacing:.06em}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
dl.meta dt{color:#555}
dl.meta dd{margin:0;overflow-wrap:anywhere}
table{width:100%;border-collapse:collapse;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{padding:5px 7px;text-align:left;vertical-align:top;border-bottom:1px solid #e4e4e4}
thead th{font-size:12px;font-weight:600;color:#333;border-bottom:1.5px solid #1b1b1b;vertical-align:bottom}
.num{text-align:right;white-space:nowrap}
th.num{white-space:normal}
td code{overflow-wrap:normal;word-break:keep-all}
.model{white-space:nowrap}
tbody th{font-weight:600;background:#f4f4f4;font-size:12px}
tfoot td{font-weight:600;border-top:1.5px solid #1b1b1b;border-bottom:none}
table.sum{width:100%}
table.sum td:first-child{padding-right:40px}
table.sum tr.subtotal td{font-weight:600;border-top:1px solid #888}
tbody tr.subtotal td{font-weight:600;border-top:1px solid #888}
table.sum tr.due td{font-size:17px;font-weight:700;border-top:2px solid #1b1b1b;border-bottom:3px double #1b1b1b}
.muted{color:#666}
.small{font-size:12px}
.tag{display:inline-block;font-size:11px;padding:0 5px;border:1px solid #999;border-radius:3px;color:#444}
.terms{margin:6px 0;padding:8px 12px;border-left:3px solid #bbb;background:#fafafa}
.terms p{margin:2px 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.88em}
.hash{cursor:help}
pre.cmd{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12px;
margin:6px 0;padding:8px 12px;background:#f4f4f4;border-radius:3px;white-space:pre-wrap;overflow-wrap:anywhere}
.date{white-space:nowrap}
.note{color:#444;font-size:13px}
footer{margin-top:32px;padding-top:8px;border-top:1px solid #d0d0d0;color:#666;font-size:12px}
@page{margin:14mm 12mm}
@media print{
body{font-size:9.5pt;-webkit-print-color-adjust:exact;print-color-adjust:exact}
table{font-size:8.5pt}
th,td{padding:3px 4px}
main{max-width:none;padding:0}
h2{margin-top:18px}
.duebox{border-width:1.5px}
tr,.terms,dl.meta{break-inside:avoid}
thead{display:table-header-group}
tfoot{display:table-row-group}
a{color:inherit;text-decoration:none}
}
""".replace("\n", "")


def page(title: str, body: str) -> bytes:
    """The whole HTML document around `body` (HTML), as UTF-8 bytes."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    ).encode()


def source_footer(kind: str) -> str:
    """The footer naming the JSON file a page renders (`kind`: "statement" or "invoice")."""
    return (f"<footer>This page renders the {kind}'s JSON file, the authoritative record; the CSV file holds "
            "the same figures.</footer>\n")


def meta_list(rows: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are HTML already escaped by the caller."""
    return '<dl class="meta">' + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>\n"


def due_box(label: str, amount: str, currency: str) -> str:
    """The boxed amount at the top right of a page."""
    return (f'<div class="duebox"><div class="label">{escape(label)}</div>'
            f'<div class="amount">{escape(amount)}<span class="cur">{escape(currency)}</span></div></div>\n')


# -- tables --------------------------------------------------------------------------------------

def _class(cls: str) -> str:
    return f' class="{cls}"' if cls else ""


def row(cells: Sequence[Cell], tag: str = "td", cls: str = "") -> str:
    """A table row of HTML cells; numeric cells are right-aligned; `cls` "subtotal": a group's subtotal."""
    return f"<tr{_class(cls)}>" + "".join(f'<{tag} class="num">{c}</{tag}>' if n else f"<{tag}>{c}</{tag}>"
                            for c, n in cells) + "</tr>"


def table(head: Sequence[Cell], body: str, foot: Sequence[Cell] = (), cls: str = "") -> str:
    """A table: a header row, `body` (rows of HTML), an optional footer row."""
    out = f"<table{_class(cls)}><thead>{row(head, 'th')}</thead><tbody>{body}</tbody>"
    if foot:
        out += f"<tfoot>{row(foot)}</tfoot>"
    return out + "</table>\n"


def group_row(text: str, span: int) -> str:
    """A heading row across `span` columns; `text` is HTML."""
    return f'<tr><th colspan="{span}">{text}</th></tr>'


def sum_row(label: str, amount: str, cls: str = "") -> str:
    """A row of a summary table (`table.sum`): a label and an amount, both HTML."""
    return f'<tr{_class(cls)}><td>{label}</td><td class="num">{amount}</td></tr>'


def sum_table(rows: Iterable[str]) -> str:
    """A summary table (`table.sum`) of `sum_row`s and `group_row`s."""
    return '<table class="sum"><tbody>' + "".join(rows) + "</tbody></table>\n"
