"""A contract's earnings over one window: statement lines, adjustment lines and tier breakdown.

For each segment of the window, the contract version in force (if any) decides scope,
exemptions, basis and the share rule. Every line's exact earning is computed as a fraction and
rounded once, half-even, to the currency's minor unit; totals are sums of rounded lines.

- flat share: earning = line basis x share.
- marginal tiers: the period's basis accumulates segment by segment (usage and adjustments
  together); a segment whose basis B moves the running total from C to C + B earns
  T(C + B) - T(C), where T(x) is the sum over bands of rate x (part of [0, x] in the band)
  and, below zero, the first band's rate x x (a net negative basis is reversed at that rate).
  That earning is spread over the segment's lines pro rata to their basis. The breakdown rows
  split the segment's rounded total over the bands by largest remainder.
- per-token royalty: earning = non-exempt tokens x per_million / 1e6 (rule by model glob and
  direction); credits and the net/gross basis do not touch it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction

from revshare.instants import format_instant
from revshare.settlement.adjustments import Credit, CreditPiece
from revshare.settlement.kinds import CHAT
from revshare.settlement.period import Window
from revshare.settlement.rating import Cell
from revshare.settlement.rounding import allocate, places_of, round_half_even
from revshare.settlement.statement import AdjustmentLine, SegmentTerms, StatementLine, TierLine
from revshare.settlement.terms import ContractConfig

__all__ = ["ContractEarnings", "contract_earnings", "tier_earning"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ContractEarnings:
    segments: tuple[SegmentTerms, ...]
    lines: tuple[StatementLine, ...]
    adjustments: tuple[AdjustmentLine, ...]
    tiers: tuple[TierLine, ...]
    guarantee_exact: Fraction


def _bands(version: ContractConfig) -> list[tuple[Decimal | None, Decimal | None, Decimal]]:
    """(lower, upper, rate) per band; the first band's lower is None (it extends below zero)."""
    bands: list[tuple[Decimal | None, Decimal | None, Decimal]] = []
    lower: Decimal | None = None
    for tier in version.tiers or ():
        bands.append((lower, tier.up_to, tier.share))
        lower = tier.up_to
    return bands


def _part_in(x: Decimal, lower: Decimal | None, upper: Decimal | None) -> Decimal:
    """Length of [0, x] (or [x, 0], counted negative) inside [lower, upper)."""
    lo = ZERO if lower is None else lower
    clamp = x if upper is None else min(x, upper)
    if lower is None:
        return clamp  # the first band also takes everything below zero
    return max(ZERO, clamp - lo)


def tier_earning(version: ContractConfig, x: Decimal) -> Decimal:
    """T(x): what a cumulative basis of x earns under the version's marginal tiers (exact)."""
    return sum((rate * _part_in(x, lo, up) for lo, up, rate in _bands(version)), ZERO)


def _terms(index: int, window: Window, version: ContractConfig | None) -> SegmentTerms:
    start, end = window.edges[index], window.edges[index + 1]
    if version is None:
        return SegmentTerms(index, start, end, "none", (), "", None, (), (), ZERO, (), ())
    return SegmentTerms(
        index, start, end, version.kind,
        (*version.models, *((f"lineage:{version.lineage}",) if version.lineage else ())),
        version.basis, version.share,
        tuple((t.up_to, t.share) for t in version.tiers or ()),
        tuple((r.models, r.direction, r.per_million) for r in version.royalty or ()),
        version.minimum_guarantee, version.exempt_customers, version.exempt_keys,
    )


def contract_earnings(
    versions: Sequence[ContractConfig],
    window: Window,
    cells: Sequence[Cell],
    pieces: Sequence[CreditPiece],
    credits: Mapping[str, Credit],
    lineage: Callable[[str], tuple[str, ...]],
    kinds: Mapping[str, str] | None = None,
) -> ContractEarnings:
    """Lines, adjustments and tier rows of one contract (all versions of one id) in a window.

    `kinds`: model id -> kind, each line's and adjustment's `model_kind` (absent: chat)."""
    places = places_of(versions[0].currency)
    edges = window.edges
    period_seconds = int((window.period.end - window.period.start).total_seconds())
    segments, lines, adjustments, tiers = [], [], [], []
    cumulative = ZERO
    guarantee = Fraction(0)
    for s in range(window.segments):
        version = next((v for v in versions if v.active(edges[s], edges[s + 1])), None)
        segments.append(_terms(s, window, version))
        if version is None:
            continue
        seconds = int((edges[s + 1] - edges[s]).total_seconds())
        guarantee += Fraction(version.minimum_guarantee) * seconds / period_seconds
        seg_lines, seg_adj = _segment_entries(version, s, cells, pieces, credits, lineage, kinds or {})
        entries: list[StatementLine | AdjustmentLine] = [*seg_lines, *seg_adj]
        weights: list[Fraction]
        if version.kind == "share":
            rate = Fraction(version.share or ZERO)
            weights = [Fraction(e.basis) * rate for e in entries]
        elif version.kind == "royalty":
            weights = [Fraction((e.tokens - e.excluded_tokens) * version.royalty_per_million(e.model, e.direction))
                       / 10**6 for e in entries]
        else:
            seg_basis = sum((e.basis for e in entries), ZERO)
            earned = tier_earning(version, cumulative + seg_basis) - tier_earning(version, cumulative)
            weights = [Fraction(e.basis) * Fraction(earned) / Fraction(seg_basis) if seg_basis else Fraction(0)
                       for e in entries]
        rounded = [round_half_even(w, places) for w in weights]
        lines += [replace(e, share=r) for e, r in zip(seg_lines, rounded[: len(seg_lines)], strict=True)]
        adjustments += [replace(e, share=r) for e, r in zip(seg_adj, rounded[len(seg_lines):], strict=True)]
        if version.kind == "tiers":
            seg_basis = sum((e.basis for e in entries), ZERO)
            tiers += _tier_rows(version, s, cumulative, seg_basis, sum(rounded, ZERO), places)
            cumulative += seg_basis
    return ContractEarnings(tuple(segments), tuple(lines), tuple(adjustments), tuple(tiers), guarantee)


def _tier_rows(
    version: ContractConfig, segment: int, before: Decimal, basis: Decimal, total: Decimal, places: int
) -> list[TierLine]:
    bands = _bands(version)
    moved = [_part_in(before + basis, lo, up) - _part_in(before, lo, up) for lo, up, _ in bands]
    amounts = [rate * m for (_, _, rate), m in zip(bands, moved, strict=True)]
    shares = allocate(total, amounts, places) if any(amounts) else [ZERO] * len(bands)
    return [
        TierLine(segment, lo if lo is not None else ZERO, up, rate, m, sh)
        for (lo, up, rate), m, sh in zip(bands, moved, shares, strict=True)
        if m or sh
    ]


def _segment_entries(
    version: ContractConfig,
    segment: int,
    cells: Sequence[Cell],
    pieces: Sequence[CreditPiece],
    credits: Mapping[str, Credit],
    lineage: Callable[[str], tuple[str, ...]],
    kinds: Mapping[str, str],
) -> tuple[list[StatementLine], list[AdjustmentLine]]:
    """Unpriced (share 0) usage and adjustment lines for one segment, in canonical order."""
    usage: dict[tuple[str, str], list[int | Decimal]] = {}
    late: dict[tuple[str, str], list[int | Decimal]] = {}
    in_scope: dict[str, bool] = {}

    def covered(model: str) -> bool:
        if model not in in_scope:
            in_scope[model] = version.covers(model, lineage(model))
        return in_scope[model]

    for c in cells:
        if c.segment != segment or c.currency != version.currency or not covered(c.model):
            continue
        exempt = version.exempts(c.customer, c.key_id)
        acc = (late if c.late else usage).setdefault((c.model, c.direction), [0, 0, 0, ZERO, ZERO])
        acc[0] += c.requests
        acc[1] += c.tokens
        acc[2] += c.tokens if exempt else 0
        acc[3] += c.amount
        acc[4] += c.amount if exempt else ZERO
    lines = [
        StatementLine(segment, m, d, int(a[0]), int(a[1]), int(a[2]), Decimal(a[3]), Decimal(a[4]),
                      Decimal(a[3]) - Decimal(a[4]), ZERO, kinds.get(m, CHAT))
        for (m, d), a in sorted(usage.items())
    ]
    adjustments = [
        AdjustmentLine(segment, "late_usage", "late", "", "usage of a closed period that arrived after its close",
                       m, d, int(a[1]), int(a[2]), Decimal(a[3]), Decimal(a[4]), Decimal(a[3]) - Decimal(a[4]), ZERO,
                       kinds.get(m, CHAT))
        for (m, d), a in sorted(late.items())
    ]
    credit_acc: dict[tuple[str, str], list[Decimal]] = {}
    if version.basis != "net" or version.kind == "royalty":
        pieces = ()  # credits lower only a net revenue basis
    for p in pieces:
        credit = credits[p.credit_id]
        if p.segment != segment or p.model is None or credit.currency != version.currency or not covered(p.model):
            continue
        acc2 = credit_acc.setdefault((p.credit_id, p.model), [ZERO, ZERO])
        acc2[0] -= p.amount
        acc2[1] -= p.amount if version.exempts(credit.customer, p.key_id) else ZERO
    for (credit_id, model), (amount, excluded) in sorted(credit_acc.items()):
        credit = credits[credit_id]
        adjustments.append(
            AdjustmentLine(segment, credit.kind, credit_id, format_instant(credit.date),
                           credit.reason, model, "", 0, 0, amount, excluded, amount - excluded, ZERO,
                           kinds.get(model, CHAT))
        )
    return lines, adjustments
