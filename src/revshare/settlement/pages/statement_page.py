"""The statement page: a licensor's statement as a readable, printable HTML page.

Sections, in order: the amount due, the parties and references, a summary of the totals with
the guarantee explained, the contract terms in words (`terms_words`), usage by model and
direction (grouped by what it bills, chat or embeddings, with subtotals, when some line bills
embeddings), the tier breakdown, the adjustments, and where the figures sit in the verifiable log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revshare.money import D, minor_unit
from revshare.settlement.kinds import EMBEDDING, apart, kind_groups
from revshare.settlement.pages.kit import (
    MUTED_DASH,
    Cell,
    close_note,
    count_html,
    cutoff_row,
    date_cell,
    due_box,
    escape,
    group_row,
    hash_code,
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
from revshare.settlement.pages.terms_words import guarantee_recoupable, terms_section
from revshare.settlement.pages.text import (
    KIND_WORDS,
    MODEL_KIND_WORDS,
    money_sum,
    money_text,
    negated,
    percent_text,
    period_text,
    span_text,
)

__all__ = ["statement_page"]


def _summary_section(doc: Mapping[str, Any], recoupable: bool | None) -> str:
    """The totals, from gross revenue to the amount due, and the guarantee explained."""
    cur = doc["currency"]
    t = doc["totals"]

    def m(text: str) -> str:
        return money_html(text, cur)

    rows = [
        group_row("Revenue on the licensed models", 2),
        sum_row("Gross revenue (usage lines)", m(t["gross"])),
        sum_row("Less exempt customers and keys", m(negated(t["excluded"]))),
        sum_row("Revenue basis", m(t["basis"]), "subtotal"),
        sum_row("Adjustments to the basis (late usage, credits, refunds, discounts)", m(t["adjustments_basis"])),
        group_row("Licensor's earnings", 2),
        sum_row("Share of usage", m(t["usage_share"])),
        sum_row("Share of adjustments", m(t["adjustments_share"])),
        sum_row("Earned this period", m(t["earned"]), "subtotal"),
    ]
    if D(t["minimum_guarantee"]) != 0 or D(t["true_up"]) != 0:
        rows.append(sum_row(f"Minimum guarantee true-up (guarantee for the period: {m(t['minimum_guarantee'])})",
                            m(t["true_up"])))
    if D(t["recouped"]) != 0 or D(t["recoupment_before"]) != 0:
        rows.append(sum_row("Less recouped earlier true-ups", m(negated(t["recouped"]))))
    rows.append(sum_row(f"Amount due ({escape(cur)})", m(t["amount_due"]), "due"))
    prorated = ""
    if len(doc["segments"]) > 1 and D(t["minimum_guarantee"]) != 0:
        prorated = (" The period's guarantee is the monthly guarantee of each segment's terms, prorated by the time "
                    "they were in force.")
    note = f'<p class="note">{_guarantee_explained(t, cur, recoupable)}{prorated}</p>\n'
    return "<h2>Summary</h2>\n" + sum_table(rows) + note


def _guarantee_explained(t: Mapping[str, str], cur: str, recoupable: bool | None) -> str:
    """The minimum guarantee, true-up and recoupment of the period, in sentences."""
    def m(text: str) -> str:
        return f"{money_html(text, cur)} {escape(cur)}"

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
    """Usage by model and direction, under a heading row per segment when there are several; when
    some line bills embeddings, grouped by what the lines bill first, each group with its subtotal."""
    cur = doc["currency"]
    lines = doc["lines"]
    out = "<h2>Usage by model and direction</h2>\n"
    if not lines:
        return out + '<p class="muted">No usage of the licensed models in this period.</p>\n'
    head: list[Cell] = [("Model", False), ("Direction", False), ("Requests", True), ("Tokens", True),
                        ("Exempt tokens", True), ("Gross", True), ("Exempt", True), ("Basis", True), ("Share", True)]
    segs = {s["index"]: s for s in doc["segments"]}
    body = []
    grouped = apart(lines)
    for kind, group in kind_groups(lines):
        words = MODEL_KIND_WORDS.get(kind, kind)
        if grouped:
            body.append(group_row(escape(words), len(head)))
        current = None
        for x in group:
            if len(segs) > 1 and x["segment"] != current:
                current = x["segment"]
                seg = segs.get(current)
                when = f": {escape(span_text(seg['start'], seg['end']))}" if seg else ""
                body.append(group_row(f"Segment {escape(current + 1)}{when}", len(head)))
            body.append(row([
                (f"<code class=\"model\">{escape(x['model'])}</code>", False), (escape(x["direction"]), False),
                (count_html(x["requests"]), True), (count_html(x["tokens"]), True),
                (count_html(x["excluded_tokens"]), True), (money_html(x["gross"], cur), True),
                (money_html(x["excluded"], cur), True), (money_html(x["basis"], cur), True),
                (money_html(x["share"], cur), True),
            ]))
        if grouped:
            body.append(row([(f"Subtotal: {escape(words.lower())}", False), ("", False), ("", True),
                             (count_html(sum(x["tokens"] for x in group)), True),
                             (count_html(sum(x["excluded_tokens"] for x in group)), True),
                             *((money_html(money_sum(x[k] for x in group), cur), True)
                               for k in ("gross", "excluded", "basis", "share"))], cls="subtotal"))
    t = doc["totals"]
    foot: list[Cell] = [("Total", False), ("", False), ("", True),
                        (count_html(sum(x["tokens"] for x in lines)), True),
                        (count_html(sum(x["excluded_tokens"] for x in lines)), True),
                        (money_html(t["gross"], cur), True), (money_html(t["excluded"], cur), True),
                        (money_html(t["basis"], cur), True), (money_html(t["usage_share"], cur), True)]
    note = ('<p class="note">Gross is what customers were charged for these tokens; exempt is the part used by '
            "exempt customers or keys; the share is earned on the basis (gross less exempt). Each line is rounded "
            "once to the currency's minor unit.</p>\n")
    return out + table(head, "".join(body), foot) + note


def _tiers_section(doc: Mapping[str, Any]) -> str:
    """The marginal bands each segment's basis fell in ("" when the contract has no tiers)."""
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
        cells: list[Cell] = [(escape(band), False), (escape(percent_text(x["rate"])), True),
                             (money_html(x["basis"], cur), True), (money_html(x["share"], cur), True)]
        if multi:
            cells.insert(0, (escape(x["segment"] + 1), False))
        body.append(row(cells))
    foot: list[Cell] = [("Total", False), ("", True), (money_html(money_sum(x["basis"] for x in tiers), cur), True),
                        (money_html(money_sum(x["share"] for x in tiers), cur), True)]
    if multi:
        foot.insert(1, ("", False))
    note = ('<p class="note">Marginal tiers: each rate applies only to the part of the period\'s basis, adjustments '
            "included, that falls within its band. The share each segment earns is spread over its usage and "
            "adjustment lines in proportion to their basis.</p>\n")
    return "<h2>Tier breakdown</h2>\n" + table(head, "".join(body), foot) + note


def _users_section(doc: Mapping[str, Any]) -> str:
    """The period's monthly active users of the contract's models ("" for a statement without them)."""
    users = doc.get("users")
    if users is None:
        return ""
    head: list[Cell] = [("Model", False), ("End users", True), ("Customers", True), ("API keys", True)]
    body = "".join(row([(f"<code>{escape(m['model'])}</code>", False), (count_html(m["end_users"]), True),
                        (count_html(m["customers"]), True), (count_html(m["keys"]), True)]) for m in users["models"])
    foot: list[Cell] = [("All models (each user once)", False), (count_html(users["end_users"]), True),
                        (count_html(users["customers"]), True), (count_html(users["keys"]), True)]
    note = ('<p class="note">Distinct users with at least one request of the model that started in the period and '
            "was recorded before the close, whatever its outcome. An end user is the request's <code>user</code> "
            "field, kept only as a keyed hash, else the API key.</p>\n")
    return "<h2>Monthly active users</h2>\n" + table(head, body, foot) + note


def _adjustments_section(doc: Mapping[str, Any]) -> str:
    """Dated adjustments: late usage, credits, refunds and discounts."""
    cur = doc["currency"]
    adj = doc["adjustments"]
    out = "<h2>Adjustments</h2>\n"
    if not adj:
        return out + '<p class="muted">No adjustments this period.</p>\n'
    head: list[Cell] = [("Date", False), ("Description", False), ("Tokens", True), ("Amount", True),
                        ("Exempt", True), ("Basis", True), ("Share", True)]
    body = []
    for a in adj:
        what = [f"<strong>{escape(KIND_WORDS.get(a['kind'], a['kind']))}</strong>"]
        if a["reason"]:
            what.append(f" — {escape(a['reason'])}")
        billed = "embeddings" if a.get("model_kind") == EMBEDDING else ""  # what a late usage or credit is on
        detail = " · ".join(escape(v) for v in (a["model"], billed, a["direction"]) if v)
        if a["ref"] and a["ref"] != "late":
            detail += (" · " if detail else "") + f"ref <code>{escape(a['ref'])}</code>"
        if detail:
            what.append(f'<br><span class="small muted">{detail}</span>')
        body.append(row([
            (date_cell(a["date"]), False), ("".join(what), False),
            (count_html(a["tokens"]) if a["tokens"] else MUTED_DASH, True),
            (money_html(a["amount"], cur), True), (money_html(a["excluded"], cur), True),
            (money_html(a["basis"], cur), True), (money_html(a["share"], cur), True),
        ]))
    t = doc["totals"]
    foot: list[Cell] = [("Total", False), ("", False), ("", True),
                        (money_html(money_sum(a["amount"] for a in adj), cur), True),
                        (money_html(money_sum(a["excluded"] for a in adj), cur), True),
                        (money_html(t["adjustments_basis"], cur), True),
                        (money_html(t["adjustments_share"], cur), True)]
    note = ('<p class="note">A closed period never changes: usage that reached the ledger after its close, and '
            "credits, refunds and discounts granted since, are settled here as dated adjustments.</p>\n")
    return out + table(head, "".join(body), foot) + note


def _log_section(doc: Mapping[str, Any]) -> str:
    """Where the statement's records sit in the verifiable log, and how to check it."""
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
        leaves = (f"{count_html(size - prev_size)} leaves: indices {count_html(log['first_index'])} – "
                  f"{count_html(log['last_index'])}, ledger seq {count_html(log['first_seq'])} – "
                  f"{count_html(log['last_seq'])}")

    def leafset(s: Mapping[str, Any], what: str) -> str:
        n = int(s["count"])
        return "none" if n == 0 else f"{count_html(n)} {what}, digest {hash_code(s['sha256'])}"

    rows = [
        ("Log", f"<code>{escape(log['origin'])}</code>"),
        ("Checkpoint at this close", f"size {count_html(size)}, root {hash_code(log['root'])}"),
        ("Previous checkpoint", f"size {count_html(prev_size)}, root {hash_code(prev['root'])}"
         + (" (the empty log)" if prev_size == 0 else "")),
        ("Leaves settled here", leaves),
        ("Ledger cut-offs", f"after seq {count_html(log['after_seq'])}, through seq "
                            f"{count_html(log['through_seq'])}"),
        ("Carried in", leafset(log["carried"], "earlier leaves of this period")),
        ("Deferred", leafset(log["deferred"], "leaves of later periods")),
    ]
    if log["cut_seqs"]:
        rows.insert(5, ("Segment cuts", "last seq before each cut: "
                        + ", ".join(count_html(s) for s in log["cut_seqs"])))
    period, licensor = escape(doc["period"]), escape(doc["licensor"])
    how = ('<p class="note">The host signs this checkpoint and this statement. Every figure above can be checked '
           "offline against the signed log: the host exports the statement bundle for this period, and the licensor "
           "runs the verifier on it with the host key it holds: <code>HELD.vkey</code>, its copy of "
           "<code>revshare log key</code>, received from the host out of band. Never the <code>host.vkey</code> "
           "inside the bundle: a bundle checked against its own key only shows that it agrees with itself. Add "
           "<code>--previous-bundle</code> with the previous period's bundle to check the chain too. The verifier "
           "recomputes the statement from the leaves and the terms and names the first figure that differs "
           "(docs/VERIFY.md).</p>\n"
           f'<pre class="cmd"># the host\nrevshare export statement-bundle --period {period} --licensor {licensor} '
           "--out BUNDLE\n# the licensor, with the host key it holds\n"
           "revshare verify statement BUNDLE --key HELD.vkey</pre>\n")
    return out + meta_list(rows) + how


def statement_page(doc: Mapping[str, Any]) -> bytes:
    """The HTML page of a statement's JSON form."""
    cur = doc["currency"]
    t = doc["totals"]
    recoupable = guarantee_recoupable(t)
    period_words = period_text(doc["period"])
    early = " (closed early)" if doc.get("closed_early") else ""
    prev = doc["previous_hash"]
    meta = [
        ("Statement number", escape(doc["number"])),
        ("Contract", f"<code>{escape(doc['contract'])}</code>"),
        ("Period", period_html(doc)),
        *([cut] if (cut := cutoff_row(doc)) else []),
        ("Currency", escape(cur)),
        ("Previous statement", hash_code(prev) + ' <span class="muted small">SHA-256</span>' if prev
         else '<span class="muted">none: the first statement of this contract</span>'),
    ]
    top = (f'<div class="top"><div><h1>Revenue share statement</h1>'
           f'<div class="sub">{escape(period_words)}{early} · contract <code>{escape(doc["contract"])}</code> · no. '
           f'{escape(doc["number"])}</div></div>'
           + due_box("Amount due to licensor", money_text(t["amount_due"], cur), cur) + "</div>\n")
    parties = (f'<div class="parties"><div><div class="label">From (host)</div>'
               f'<div class="who">{escape(doc["host"])}</div></div><div><div class="label">To (licensor)</div>'
               f'<div class="who">{escape(doc["licensor_name"])}</div><div class="muted">licensor id '
               f'<code>{escape(doc["licensor"])}</code></div></div>'
               f'<div class="meta-wide">{meta_list(meta)}</div></div>\n')
    intro = (f'<p class="note">What <strong>{escape(doc["host"])}</strong> owes '
             f"<strong>{escape(doc['licensor_name'])}</strong> under contract <code>{escape(doc['contract'])}</code> "
             f"for the use of its models in {escape(period_words)}. Amounts are in {escape(cur)}, rounded once per "
             f"line to {minor_unit(cur)} decimal places (half to even); the lines add up to the totals.</p>\n")
    body = (top + parties + intro + close_note(doc, "statement") + _summary_section(doc, recoupable)
            + terms_section(doc, recoupable) + _lines_section(doc) + _tiers_section(doc) + _adjustments_section(doc)
            + _users_section(doc) + _log_section(doc)
            + source_footer("statement"))
    title = f"Statement {doc['number']} · {doc['contract']} · {doc['period']} · {doc['licensor_name']}"
    return page(title, body)
