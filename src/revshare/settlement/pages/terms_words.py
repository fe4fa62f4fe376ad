"""Contract terms in words: the share rule, scope, basis, guarantee and exemptions of each
segment, as a statement page prints them in its "Contract terms" section."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from revshare.money import D
from revshare.settlement.pages.kit import escape
from revshare.settlement.pages.text import money_text, percent_text, span_text

__all__ = ["guarantee_recoupable", "terms_section", "terms_sentence"]


def guarantee_recoupable(totals: Mapping[str, str]) -> bool | None:
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
            parts.append(f"<code>{escape(s[len('lineage:'):])}</code> and its fine-tunes")
        elif any(ch in s for ch in "*?["):
            parts.append(f"models matching <code>{escape(s)}</code>")
        else:
            parts.append(f"<code>{escape(s)}</code>")
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
    def terms(seg: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in seg.items() if k not in ("index", "start", "end")}
    return terms(a) == terms(b)


def _runs(segs: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Consecutive segments under the same terms, together (a window is also cut where another contract changes)."""
    runs: list[list[Mapping[str, Any]]] = []
    for seg in segs:
        if runs and _same_terms(runs[-1][-1], seg):
            runs[-1].append(seg)
        else:
            runs.append([seg])
    return runs


def terms_section(doc: Mapping[str, Any], recoupable: bool | None) -> str:
    """The "Contract terms" section of a statement: each run of segments under the same terms, in words."""
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
        lines = [f"<h3>{escape(title)}{escape(span_text(run[0]['start'], run[-1]['end']))}</h3>",
                 f"<p><strong>{escape(terms_sentence(seg, cur))}.</strong></p>"]
        if seg["kind"] != "none":
            lines.append(f"<p>Models: {_scope(seg['scope'])}.</p>")
            if seg["basis"] == "net" and seg["kind"] != "royalty":
                lines.append("<p>Net revenue is what customers were charged less the credits, refunds and "
                             "discounts granted on these models.</p>")
            lines.append(f"<p>{escape(_guarantee_sentence(seg, cur, recoupable))}.</p>")
            exempt = []
            if seg["exempt_customers"]:
                exempt.append("customers " + ", ".join(f"<code>{escape(c)}</code>" for c in seg["exempt_customers"]))
            if seg["exempt_keys"]:
                exempt.append("API keys " + ", ".join(f"<code>{escape(k)}</code>" for k in seg["exempt_keys"]))
            if exempt:
                lines.append(f"<p>Exempt from the share: {'; '.join(exempt)}.</p>")
        out.append('<div class="terms">' + "".join(lines) + "</div>\n")
    return "".join(out)
