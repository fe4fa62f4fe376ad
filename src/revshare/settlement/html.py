"""Statements and invoices as readable, printable, self-contained HTML pages.

Each page is a pure function of the document's JSON form (`Statement.to_json()`,
`Invoice.to_json()`): no clock, no locale, no external asset, no script, so re-running a close
gives byte-identical pages. Every value from the document is escaped. Money arrives as strings
and is formatted for display with `Decimal` only: padded to the currency's minor unit (ISO 4217,
`money.minor_unit`), never rounded (lines are already rounded once), grouped by thousands.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from revshare.money import D, minor_unit

__all__ = [
    "count_text",
    "invoice_page",
    "money_text",
    "percent_text",
    "statement_page",
]

ZERO = Decimal(0)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_KINDS = {"late_usage": "Late usage", "credit": "Credit", "refund": "Refund", "discount": "Discount"}


# -- formatting (Decimal only; display, never arithmetic on the document) ---------------------

def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fixed(amount: Decimal, places: int) -> Decimal:
    """`amount` with at least `places` decimals: padding is exact; more decimals are kept as they are."""
    if amount == 0:
        amount = abs(amount)  # no "-0.00"
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -places:
        return amount.quantize(Decimal(1).scaleb(-places))
    return amount


def money_text(text: str, currency: str, *, group: bool = True) -> str:
    """A money string of the document at the currency's minor unit: "0" -> "0.00", "1234.5" -> "1,234.50".

    Never rounds: an amount with more decimals than the minor unit (a unit price) keeps them.
    """
    amount = _fixed(D(text), minor_unit(currency))
    return format(amount, ",f" if group else "f")


def count_text(n: int) -> str:
    """An integer count with thousands separators."""
    return f"{n:,}"


def percent_text(text: str) -> str:
    """A rate string as a percentage without trailing zeros: "0.10" -> "10%", "0.075" -> "7.5%"."""
    value = format(D(text).scaleb(2), "f")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return f"{value}%"


def _neg(text: str) -> str:
    """The negation of a money string, exactly."""
    return format(-D(text), "f")


def _short(digest: str) -> str:
    return digest if len(digest) <= 16 else f"{digest[:12]}…{digest[-4:]}"


def _hash(digest: str) -> str:
    return f'<code class="hash" title="{_e(digest)}">{_e(_short(digest))}</code>'


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _midnight(t: datetime) -> bool:
    return (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0)


def _day(t: datetime) -> str:
    return f"{t.day} {_MONTHS[t.month - 1][:3]} {t.year}"


def _span(start_text: str, end_text: str) -> str:
    """[start, end) in words: inclusive dates when both are midnights, else times in UTC."""
    start, end = _when(start_text), _when(end_text)
    if _midnight(start) and _midnight(end):
        last = end - timedelta(days=1)
        return _day(start) if last == start else f"{_day(start)} – {_day(last)}"
    return f"{_day(start)} {start:%H:%M} – {_day(end)} {end:%H:%M} UTC (end excluded)"


def _date(text: str) -> str:
    """An ISO timestamp as its UTC date, the full value in a tooltip; "" as a dash."""
    if not text:
        return '<span class="muted">—</span>'
    try:
        shown = _when(text).strftime("%Y-%m-%d")
    except ValueError:
        shown = text
    return f'<span class="date" title="{_e(text)}">{_e(shown)}</span>'


def _period(label: str) -> str:
    year, _, month = label.partition("-")
    if month.isdigit() and 1 <= int(month) <= 12:
        return f"{_MONTHS[int(month) - 1]} {year}"
    return label


# -- page building blocks ----------------------------------------------------------------------

_STYLE = """
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


def _page(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    ).encode()


def _meta(rows: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are HTML already escaped by the caller."""
    return '<dl class="meta">' + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>\n"


def _due_box(label: str, amount: str, currency: str) -> str:
    return (f'<div class="duebox"><div class="label">{_e(label)}</div>'
            f'<div class="amount">{_e(amount)}<span class="cur">{_e(currency)}</span></div></div>\n')


Cell = tuple[str, bool]  # (HTML, numeric)


def _table(head: Sequence[Cell], body: str, foot: Sequence[Cell] = (), cls: str = "") -> str:
    def row(cells: Sequence[Cell], tag: str) -> str:
        return "<tr>" + "".join(f'<{tag} class="num">{c}</{tag}>' if n else f"<{tag}>{c}</{tag}>"
                                for c, n in cells) + "</tr>"
    klass = f' class="{cls}"' if cls else ""
    out = f"<table{klass}><thead>{row(head, 'th')}</thead><tbody>{body}</tbody>"
    if foot:
        out += f"<tfoot>{row(foot, 'td')}</tfoot>"
    return out + "</table>\n"


def _row(cells: Sequence[Cell]) -> str:
    return "<tr>" + "".join(f'<td class="num">{c}</td>' if n else f"<td>{c}</td>" for c, n in cells) + "</tr>"


def _group(text: str, span: int) -> str:
    return f'<tr><th colspan="{span}">{text}</th></tr>'


def _sum(values: Iterable[str]) -> str:
    """Exact sum of money strings (a display check row), as a money string."""
    return format(sum((D(v) for v in values), ZERO), "f")


# -- statement -----------------------------------------------------------------------------------

def _recoupable(totals: Mapping[str, str]) -> bool | None:
    """Whether the guarantee is recoupable, as far as the totals show it (None: they do not say).

    The statement JSON carries no `recoupable` flag; a balance, a recoupment, or where a true-up
    went (into the balance or not) tells it.
    """
    before, after = D(totals["recoupment_before"]), D(totals["recoupment_after"])
    true_up, recouped = D(totals["true_up"]), D(totals["recouped"])
    if before > 0 or recouped > 0 or after > 0:
        return True
    if true_up > 0:
        return after == before + true_up - recouped
    return None


def _scope(scope: Sequence[str]) -> str:
    parts = []
    for s in scope:
        if s.startswith("lineage:"):
            parts.append(f"<code>{_e(s[len('lineage:'):])}</code> and its fine-tunes")
        elif any(ch in s for ch in "*?["):
            parts.append(f"models matching <code>{_e(s)}</code>")
        else:
            parts.append(f"<code>{_e(s)}</code>")
    return ", ".join(parts) if parts else "no models"


def _basis_words(basis: str) -> str:
    return {"net": "net revenue", "gross": "gross revenue"}.get(basis, f"{basis} revenue")


def terms_sentence(segment: Mapping[str, Any], currency: str) -> str:
    """The share rule of a segment in words (plain text), e.g.
    "Marginal tiers on net revenue: 10% up to 1,000.00; 8% up to 10,000.00; 5% above".
    """
    kind = segment["kind"]
    if kind == "share":
        return f"Flat share: {percent_text(segment['share'])} of {_basis_words(segment['basis'])}"
    if kind == "tiers":
        bands: list[str] = []
        for tier in segment["tiers"]:
            if tier["up_to"] is None:
                bands.append(f"{percent_text(tier['share'])} above" if bands else f"{percent_text(tier['share'])}")
            else:
                bands.append(f"{percent_text(tier['share'])} up to {money_text(tier['up_to'], currency)}")
        return f"Marginal tiers on {_basis_words(segment['basis'])}: " + "; ".join(bands)
    if kind == "royalty":
        rules = [f"{money_text(r['per_million'], currency)} per million {r['direction']} tokens of "
                 + (f"models matching {r['models']}" if any(ch in r["models"] for ch in "*?[") else r["models"])
                 for r in segment["royalty"]]
        return "Per-token royalty: " + "; ".join(rules)
    return "No contract version in force: nothing is earned"


def _guarantee_sentence(segment: Mapping[str, Any], currency: str, recoupable: bool | None) -> str:
    g = D(segment["minimum_guarantee"])
    if g == 0:
        return "No minimum guarantee"
    words = f"Minimum guarantee {money_text(segment['minimum_guarantee'], currency)} per month"
    if recoupable is True:
        return words + ", recoupable from later earnings"
    if recoupable is False:
        return words + ", not recoupable"
    return words


def _same_terms(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k not in ("index", "start", "end")} == {
        k: v for k, v in b.items() if k not in ("index", "start", "end")}


def _runs(segs: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Consecutive segments under the same terms, together (a window is also cut where another contract changes)."""
    runs: list[list[Mapping[str, Any]]] = []
    for seg in segs:
        if runs and _same_terms(runs[-1][-1], seg):
            runs[-1].append(seg)
        else:
            runs.append([seg])
    return runs


def _terms_section(doc: Mapping[str, Any], recoupable: bool | None) -> str:
    cur = doc["currency"]
    segs = doc["segments"]
    runs = _runs(segs)
    out = ["<h2>Contract terms</h2>\n"]
    if len(segs) > 1:
        changed = ("The terms changed during the period: each segment is settled under the terms then in force, and "
                   "the minimum guarantee is prorated by the time each was in force. " if len(runs) > 1 else "")
        out.append(f'<p class="note">{changed}The period is settled in {len(segs)} segments, cut where a contract '
                   "version of the catalog starts or ends. Segment <i>n</i> is index <i>n</i> − 1 in the JSON and CSV "
                   "files.</p>\n")
    for run in runs:
        seg = run[0]
        first, last = run[0]["index"] + 1, run[-1]["index"] + 1
        title = "" if len(segs) == 1 else f"Segment {first}: " if first == last else f"Segments {first}–{last}: "
        lines = [f"<h3>{_e(title)}{_e(_span(run[0]['start'], run[-1]['end']))}</h3>",
                 f"<p><strong>{_e(terms_sentence(seg, cur))}.</strong></p>"]
        if seg["kind"] != "none":
            lines.append(f"<p>Models: {_scope(seg['scope'])}.</p>")
            if seg["basis"] == "net" and seg["kind"] != "royalty":
                lines.append("<p>Net revenue is what customers were charged less the credits, refunds and "
                             "discounts granted on these models.</p>")
            lines.append(f"<p>{_e(_guarantee_sentence(seg, cur, recoupable))}.</p>")
            exempt = []
            if seg["exempt_customers"]:
                exempt.append("customers " + ", ".join(f"<code>{_e(c)}</code>" for c in seg["exempt_customers"]))
            if seg["exempt_keys"]:
                exempt.append("API keys " + ", ".join(f"<code>{_e(k)}</code>" for k in seg["exempt_keys"]))
            if exempt:
                lines.append(f"<p>Exempt from the share: {'; '.join(exempt)}.</p>")
        out.append('<div class="terms">' + "".join(lines) + "</div>\n")
    return "".join(out)


def _summary_section(doc: Mapping[str, Any], recoupable: bool | None) -> str:
    cur = doc["currency"]
    t = doc["totals"]

    def m(text: str) -> str:
        return _e(money_text(text, cur))

    def line(label: str, amount: str, cls: str = "") -> str:
        klass = f' class="{cls}"' if cls else ""
        return f'<tr{klass}><td>{label}</td><td class="num">{amount}</td></tr>'

    rows = [
        _group("Revenue on the licensed models", 2),
        line("Gross revenue (usage lines)", m(t["gross"])),
        line("Less exempt customers and keys", m(_neg(t["excluded"]))),
        line("Revenue basis", m(t["basis"]), "subtotal"),
        line("Adjustments to the basis (late usage, credits, refunds, discounts)", m(t["adjustments_basis"])),
        _group("Licensor's earnings", 2),
        line("Share of usage", m(t["usage_share"])),
        line("Share of adjustments", m(t["adjustments_share"])),
        line("Earned this period", m(t["earned"]), "subtotal"),
    ]
    if D(t["minimum_guarantee"]) != 0 or D(t["true_up"]) != 0:
        rows.append(line(f"Minimum guarantee true-up (guarantee for the period: {m(t['minimum_guarantee'])})",
                         m(t["true_up"])))
    if D(t["recouped"]) != 0 or D(t["recoupment_before"]) != 0:
        rows.append(line("Less recouped earlier true-ups", m(_neg(t["recouped"]))))
    rows.append(line(f"Amount due ({_e(cur)})", m(t["amount_due"]), "due"))
    table = "<table class=\"sum\"><tbody>" + "".join(rows) + "</tbody></table>\n"
    prorated = ""
    if len(doc["segments"]) > 1 and D(t["minimum_guarantee"]) != 0:
        prorated = (" The period's guarantee is the monthly guarantee of each segment's terms, prorated by the time "
                    "they were in force.")
    return "<h2>Summary</h2>\n" + table + f'<p class="note">{_guarantee_explained(t, cur, recoupable)}{prorated}</p>\n'


def _guarantee_explained(t: Mapping[str, str], cur: str, recoupable: bool | None) -> str:
    def m(text: str) -> str:
        return f"{_e(money_text(text, cur))} {_e(cur)}"

    g, earned, true_up = D(t["minimum_guarantee"]), D(t["earned"]), D(t["true_up"])
    recouped, before, after = D(t["recouped"]), D(t["recoupment_before"]), D(t["recoupment_after"])
    words = []
    if g == 0 and true_up == 0:
        words.append("This contract has no minimum guarantee: the amount due is what was earned.")
    elif true_up > 0:
        words.append(f"Earnings of {m(t['earned'])} fell short of the period's minimum guarantee of "
                     f"{m(t['minimum_guarantee'])}, so a true-up of {m(t['true_up'])} is paid now.")
        if recoupable is True:
            words.append("The guarantee is recoupable: the true-up is added to the recoupment balance and won "
                         "back from later periods' earnings above the guarantee.")
        elif recoupable is False:
            words.append("The guarantee is not recoupable: the true-up is not won back later.")
    else:
        words.append(f"Earnings of {m(t['earned'])} meet the period's minimum guarantee of "
                     f"{m(t['minimum_guarantee'])}: no true-up is due.")
    if recouped > 0:
        words.append(f"Of the earnings above the guarantee ({m(format(earned - g, 'f'))}), {m(t['recouped'])} "
                     "recoups earlier true-ups; a payment never falls below the guarantee.")
    elif before > 0 and true_up == 0:
        words.append("Nothing is recouped: only earnings above the guarantee recoup earlier true-ups.")
    if before != 0 or after != 0:
        words.append(f"Recoupment balance: {m(t['recoupment_before'])} at the start of the period, "
                     f"{m(t['recoupment_after'])} at its end.")
    return " ".join(words)


def _lines_section(doc: Mapping[str, Any]) -> str:
    cur = doc["currency"]
    lines = doc["lines"]
    out = "<h2>Usage by model and direction</h2>\n"
    if not lines:
        return out + '<p class="muted">No usage of the licensed models in this period.</p>\n'
    head: list[Cell] = [("Model", False), ("Direction", False), ("Requests", True), ("Tokens", True),
                        ("Exempt tokens", True), ("Gross", True), ("Exempt", True), ("Basis", True), ("Share", True)]
    segs = {s["index"]: s for s in doc["segments"]}
    body = []
    current = None
    for x in lines:
        if len(segs) > 1 and x["segment"] != current:
            current = x["segment"]
            seg = segs.get(current)
            when = f": {_e(_span(seg['start'], seg['end']))}" if seg else ""
            body.append(_group(f"Segment {_e(current + 1)}{when}", len(head)))
        body.append(_row([
            (f"<code class=\"model\">{_e(x['model'])}</code>", False), (_e(x["direction"]), False),
            (_e(count_text(x["requests"])), True), (_e(count_text(x["tokens"])), True),
            (_e(count_text(x["excluded_tokens"])), True), (_e(money_text(x["gross"], cur)), True),
            (_e(money_text(x["excluded"], cur)), True), (_e(money_text(x["basis"], cur)), True),
            (_e(money_text(x["share"], cur)), True),
        ]))
    t = doc["totals"]
    foot: list[Cell] = [("Total", False), ("", False), ("", True),
                        (_e(count_text(sum(x["tokens"] for x in lines))), True),
                        (_e(count_text(sum(x["excluded_tokens"] for x in lines))), True),
                        (_e(money_text(t["gross"], cur)), True), (_e(money_text(t["excluded"], cur)), True),
                        (_e(money_text(t["basis"], cur)), True), (_e(money_text(t["usage_share"], cur)), True)]
    note = ('<p class="note">Gross is what customers were charged for these tokens; exempt is the part used by '
            "exempt customers or keys; the share is earned on the basis (gross less exempt). Each line is rounded "
            "once to the currency's minor unit.</p>\n")
    return out + _table(head, "".join(body), foot) + note


def _tiers_section(doc: Mapping[str, Any]) -> str:
    cur = doc["currency"]
    tiers = doc["tiers"]
    if not tiers:
        return ""
    multi = len(doc["segments"]) > 1
    head: list[Cell] = [("Band", False), ("Rate", True), ("Basis in band", True), ("Share", True)]
    if multi:
        head.insert(0, ("Segment", False))
    body = []
    for x in tiers:
        band = (f"above {money_text(x['lower'], cur)}" if x["upper"] is None
                else f"{money_text(x['lower'], cur)} – {money_text(x['upper'], cur)}")
        cells: list[Cell] = [(_e(band), False), (_e(percent_text(x["rate"])), True),
                             (_e(money_text(x["basis"], cur)), True), (_e(money_text(x["share"], cur)), True)]
        if multi:
            cells.insert(0, (_e(x["segment"] + 1), False))
        body.append(_row(cells))
    foot: list[Cell] = [("Total", False), ("", True), (_e(money_text(_sum(x["basis"] for x in tiers), cur)), True),
                        (_e(money_text(_sum(x["share"] for x in tiers), cur)), True)]
    if multi:
        foot.insert(1, ("", False))
    note = ('<p class="note">Marginal tiers: each rate applies only to the part of the period\'s basis, adjustments '
            "included, that falls within its band. The share each segment earns is spread over its usage and "
            "adjustment lines in proportion to their basis.</p>\n")
    return "<h2>Tier breakdown</h2>\n" + _table(head, "".join(body), foot) + note


def _adjustments_section(doc: Mapping[str, Any]) -> str:
    cur = doc["currency"]
    adj = doc["adjustments"]
    out = "<h2>Adjustments</h2>\n"
    if not adj:
        return out + '<p class="muted">No adjustments this period.</p>\n'
    head: list[Cell] = [("Date", False), ("Description", False), ("Tokens", True), ("Amount", True),
                        ("Exempt", True), ("Basis", True), ("Share", True)]
    body = []
    for a in adj:
        what = [f"<strong>{_e(_KINDS.get(a['kind'], a['kind']))}</strong>"]
        if a["reason"]:
            what.append(f" — {_e(a['reason'])}")
        detail = " · ".join(_e(v) for v in (a["model"], a["direction"]) if v)
        if a["ref"] and a["ref"] != "late":
            detail += (" · " if detail else "") + f"ref <code>{_e(a['ref'])}</code>"
        if detail:
            what.append(f'<br><span class="small muted">{detail}</span>')
        body.append(_row([
            (_date(a["date"]), False), ("".join(what), False),
            (_e(count_text(a["tokens"])) if a["tokens"] else '<span class="muted">—</span>', True),
            (_e(money_text(a["amount"], cur)), True), (_e(money_text(a["excluded"], cur)), True),
            (_e(money_text(a["basis"], cur)), True), (_e(money_text(a["share"], cur)), True),
        ]))
    t = doc["totals"]
    foot: list[Cell] = [("Total", False), ("", False), ("", True),
                        (_e(money_text(_sum(a["amount"] for a in adj), cur)), True),
                        (_e(money_text(_sum(a["excluded"] for a in adj), cur)), True),
                        (_e(money_text(t["adjustments_basis"], cur)), True),
                        (_e(money_text(t["adjustments_share"], cur)), True)]
    note = ('<p class="note">A closed period never changes: usage that reached the ledger after its close, and '
            "credits, refunds and discounts granted since, are settled here as dated adjustments.</p>\n")
    return out + _table(head, "".join(body), foot) + note


def _log_section(doc: Mapping[str, Any]) -> str:
    log = doc.get("log")
    out = "<h2>Verifiable log</h2>\n"
    if log is None:
        return out + ('<p class="muted">This statement is not bound to a log checkpoint: its records cannot be '
                      "checked against a signed log.</p>\n")
    prev = log["previous"]
    size, prev_size = int(log["size"]), int(prev["size"])
    if log["first_seq"] is None:
        leaves = "none (no record was appended between the two closes)"
    else:
        leaves = (f"{_e(count_text(size - prev_size))} leaves: indices {_e(count_text(log['first_index']))} – "
                  f"{_e(count_text(log['last_index']))}, ledger seq {_e(count_text(log['first_seq']))} – "
                  f"{_e(count_text(log['last_seq']))}")

    def leafset(s: Mapping[str, Any], what: str) -> str:
        n = int(s["count"])
        return "none" if n == 0 else f"{_e(count_text(n))} {what}, digest {_hash(s['sha256'])}"

    rows = [
        ("Log", f"<code>{_e(log['origin'])}</code>"),
        ("Checkpoint at this close", f"size {_e(count_text(size))}, root {_hash(log['root'])}"),
        ("Previous checkpoint", f"size {_e(count_text(prev_size))}, root {_hash(prev['root'])}"
         + (" (the empty log)" if prev_size == 0 else "")),
        ("Leaves settled here", leaves),
        ("Ledger cut-offs", f"after seq {_e(count_text(log['after_seq']))}, through seq "
                            f"{_e(count_text(log['through_seq']))}"),
        ("Carried in", leafset(log["carried"], "earlier leaves of this period")),
        ("Deferred", leafset(log["deferred"], "leaves of later periods")),
    ]
    if log["cut_seqs"]:
        rows.insert(5, ("Segment cuts", "last seq before each cut: "
                        + ", ".join(_e(count_text(s)) for s in log["cut_seqs"])))
    period, licensor = _e(doc["period"]), _e(doc["licensor"])
    how = ('<p class="note">The host signs this checkpoint and this statement. Every figure above can be checked '
           "offline against the signed log: the host exports the statement bundle for this period, and the licensor "
           "runs the verifier on it with the host's public key (add <code>--previous-bundle</code> with the previous "
           "period's bundle to check the chain too). It recomputes the statement from the leaves and the terms and "
           "names the first figure that differs (docs/VERIFY.md).</p>\n"
           f'<pre class="cmd">revshare export statement-bundle --period {period} --licensor {licensor} --out BUNDLE\n'
           "revshare verify statement BUNDLE --key host.vkey</pre>\n")
    return out + _meta(rows) + how


def statement_page(doc: Mapping[str, Any]) -> bytes:
    """The HTML page of a statement's JSON form."""
    cur = doc["currency"]
    t = doc["totals"]
    recoupable = _recoupable(t)
    period_words = _period(doc["period"])
    prev = doc["previous_hash"]
    meta = [
        ("Statement number", _e(doc["number"])),
        ("Contract", f"<code>{_e(doc['contract'])}</code>"),
        ("Period", f"{_e(period_words)} <span class=\"muted\">({_e(_span(doc['period_start'], doc['period_end']))}, "
                   "UTC)</span>"),
        ("Currency", _e(cur)),
        ("Previous statement", _hash(prev) + ' <span class="muted small">SHA-256</span>' if prev
         else '<span class="muted">none: the first statement of this contract</span>'),
    ]
    top = (f'<div class="top"><div><h1>Revenue share statement</h1>'
           f'<div class="sub">{_e(period_words)} · contract <code>{_e(doc["contract"])}</code> · no. '
           f'{_e(doc["number"])}</div></div>'
           + _due_box("Amount due to licensor", money_text(t["amount_due"], cur), cur) + "</div>\n")
    parties = (f'<div class="parties"><div><div class="label">From (host)</div><div class="who">{_e(doc["host"])}'
               f'</div></div><div><div class="label">To (licensor)</div><div class="who">{_e(doc["licensor_name"])}'
               f'</div><div class="muted">licensor id <code>{_e(doc["licensor"])}</code></div></div>'
               f'<div class="meta-wide">{_meta(meta)}</div></div>\n')
    intro = (f'<p class="note">What <strong>{_e(doc["host"])}</strong> owes <strong>{_e(doc["licensor_name"])}'
             f"</strong> under contract <code>{_e(doc['contract'])}</code> for the use of its models in "
             f"{_e(period_words)}. Amounts are in {_e(cur)}, rounded once per line to {minor_unit(cur)} decimal "
             "places (half to even); the lines add up to the totals.</p>\n")
    body = (top + parties + intro + _summary_section(doc, recoupable) + _terms_section(doc, recoupable)
            + _lines_section(doc) + _tiers_section(doc) + _adjustments_section(doc) + _log_section(doc)
            + '<footer>This page renders the statement\'s JSON file, the authoritative record; the CSV file holds '
            "the same figures.</footer>\n")
    title = f"Statement {doc['number']} · {doc['contract']} · {doc['period']} · {doc['licensor_name']}"
    return _page(title, body)


# -- invoice -------------------------------------------------------------------------------------

def _price_version(model: str, version: str) -> str:
    """`model@2026-01-01T00:00:00Z` as "prices of 2026-01-01", the full version in a tooltip."""
    _, at, when = version.partition("@")
    shown = version
    if at:
        try:
            shown = f"prices of {_when(when).strftime('%Y-%m-%d')}"
        except ValueError:
            shown = version
    return f'<span title="{_e(version)}">{_e(shown)}</span>'


def invoice_page(doc: Mapping[str, Any]) -> bytes:
    """The HTML page of an invoice's JSON form (a credit note when the total is negative)."""
    cur = doc["currency"]
    total = D(doc["total_due"])
    credit_note = total < 0
    kind = "Credit note" if credit_note else "Invoice"
    period_words = _period(doc["period"])
    meta = [
        ("Invoice number", f"<code>{_e(doc['number'])}</code>"),
        ("Period", f"{_e(period_words)} <span class=\"muted\">({_e(_span(doc['period_start'], doc['period_end']))}, "
                   "UTC)</span>"),
        ("Currency", _e(cur)),
    ]
    due_label, due_amount = ("Credit to your account", _neg(doc["total_due"])) if credit_note \
        else ("Total due", doc["total_due"])
    top = (f'<div class="top"><div><h1>{_e(kind)}</h1><div class="sub">{_e(period_words)} · no. '
           f'<code>{_e(doc["number"])}</code></div></div>' + _due_box(due_label, money_text(due_amount, cur), cur)
           + "</div>\n")
    parties = (f'<div class="parties"><div><div class="label">From</div><div class="who">{_e(doc["host"])}</div>'
               f'</div><div><div class="label">Bill to (customer)</div><div class="who">{_e(doc["customer"])}</div>'
               f'</div><div class="meta-wide">{_meta(meta)}</div></div>\n')
    intro = (f'<p class="note">Usage of the models served by <strong>{_e(doc["host"])}</strong> in '
             f"{_e(period_words)}. Prices are per million tokens; each line is rounded once to "
             f"{minor_unit(cur)} decimal places (half to even).</p>\n")
    lines = doc["lines"]
    out = "<h2>Usage</h2>\n"
    if not lines:
        out += '<p class="muted">No usage in this period.</p>\n'
    else:
        head: list[Cell] = [("Model", False), ("Direction", False), ("Requests", True), ("Tokens", True),
                            (f"Unit price ({_e(cur)} per 1M tokens)", True), (f"Amount ({_e(cur)})", True)]
        body = []
        for x in lines:
            model = f"<code>{_e(x['model'])}</code>"
            if x["late"]:
                model += ' <span class="tag" title="usage of an earlier, closed period that reached the ledger after '\
                         'its close">late usage</span>'
            model += f'<br><span class="small muted">{_price_version(x["model"], x["price_version"])}</span>'
            body.append(_row([
                (model, False), (_e(x["direction"]), False), (_e(count_text(x["requests"])), True),
                (_e(count_text(x["tokens"])), True), (_e(money_text(x["unit_price_per_million"], cur)), True),
                (_e(money_text(x["amount"], cur)), True),
            ]))
        foot: list[Cell] = [("Subtotal", False), ("", False), ("", True), ("", True), ("", True),
                            (_e(money_text(doc["subtotal"], cur)), True)]
        out += _table(head, "".join(body), foot)
        if any(x["late"] for x in lines):
            out += ('<p class="note">Late usage: requests of an earlier, already closed period that reached the '
                    "ledger after its close are billed in this period.</p>\n")
    credits = doc["credits"]
    if credits:
        out += "<h2>Credits applied</h2>\n"
        head = [("Date", False), ("Kind", False), ("Reason", False), ("Reference", False),
                (f"Amount ({_e(cur)})", True)]
        body = [_row([(_date(c["date"]), False), (_e(_KINDS.get(c["kind"], c["kind"])), False),
                      (_e(c["reason"]), False), (f"<code>{_e(c['id'])}</code>", False),
                      (_e(money_text(_neg(c["amount"]), cur)), True)])
                for c in credits]
        out += _table(head, "".join(body), [("Total credits", False), ("", False), ("", False), ("", False),
                                            (_e(money_text(_neg(doc["credits_total"]), cur)), True)])

    def line(label: str, amount: str, cls: str = "") -> str:
        klass = f' class="{cls}"' if cls else ""
        return f'<tr{klass}><td>{label}</td><td class="num">{_e(money_text(amount, cur))}</td></tr>'

    summary = ("<h2>Total</h2>\n<table class=\"sum\"><tbody>" + line("Usage subtotal", doc["subtotal"])
               + line("Less credits, refunds and discounts", _neg(doc["credits_total"]))
               + line(f"Total due ({_e(cur)})", doc["total_due"], "due") + "</tbody></table>\n")
    if credit_note:
        summary += (f'<p class="note">Credits exceed this period\'s usage: {_e(money_text(due_amount, cur))} '
                    f"{_e(cur)} is owed to the customer (a credit note).</p>\n")
    body_html = (top + parties + intro + out + summary
                 + "<footer>This page renders the invoice's JSON file, the authoritative record; the CSV file holds "
                 "the same figures.</footer>\n")
    return _page(f"{kind} {doc['number']} · {doc['customer']} · {doc['period']}", body_html)
