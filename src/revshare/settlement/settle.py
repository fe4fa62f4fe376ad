"""One close: catalog terms + usage aggregates + carried state + adjustments -> statements, invoices.

`settle()` is a pure function. Steps:

  (1) rate the aggregates into cells (rating.py): one rounding per invoice line;
  (2) allocate credits, refunds and discounts to (model, key) by largest remainder (adjustments.py);
  (3) per contract id, in (licensor, contract) order: lines, adjustments and tiers (share.py),
      then the guarantee and recoupment (guarantee.py), chained to the previous statement;
  (4) per customer and currency: the invoice (invoice.py);
  every line says what it bills, its model's kind (`kinds.py`: chat or embedding);
  (5) per currency: the host's summary, gross = licensors' amounts due + credits + host net;
  (6) the state to carry to the next close (state.py).

It returns errors as values; `validate.validate_settlement()` re-checks every invariant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from revshare.instants import format_instant
from revshare.settlement.adjustments import Credit, CreditPiece, allocate_credits
from revshare.settlement.aggregate import UsageAggregate
from revshare.settlement.errors import SettlementError
from revshare.settlement.guarantee import apply_guarantee
from revshare.settlement.invoice import Invoice, build_invoices
from revshare.settlement.kinds import KindedModel, kinds_of
from revshare.settlement.period import Window
from revshare.settlement.rating import PriceLike, rate_aggregates
from revshare.settlement.rounding import places_of, round_half_even
from revshare.settlement.share import contract_earnings
from revshare.settlement.state import SettlementState, next_state
from revshare.settlement.statement import Statement, StatementTotals
from revshare.settlement.terms import ContractConfig, LicensorConfig, lineage_of
from revshare.settlement.users import Sighting, users_of

__all__ = ["CatalogLike", "HostSummary", "SettlementResult", "settle"]


class _ServerLike(Protocol):
    @property
    def host_name(self) -> str: ...


class CatalogLike(Protocol):
    """What `settle` reads of a catalog: `revshare.config.Catalog`, or a statement bundle's terms."""

    @property
    def contracts(self) -> Sequence[ContractConfig]: ...
    @property
    def licensors(self) -> Sequence[LicensorConfig]: ...
    @property
    def models(self) -> Sequence[KindedModel]: ...
    @property
    def prices(self) -> Sequence[PriceLike]: ...
    @property
    def server(self) -> _ServerLike: ...

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class HostSummary:
    """The host's side of a close in one currency: gross = licensors_due + credits + host_net."""

    currency: str
    gross: Decimal
    credits: Decimal
    licensors_due: Decimal
    host_net: Decimal


@dataclass(frozen=True, slots=True)
class SettlementResult:
    """Everything a close produces. Persist `state`; render and send statements and invoices.

    `credit_pieces` is where each credit landed (per model and key): a statement bundle exports
    the pieces on its licensor's models, since a licensor cannot see the other models' usage.
    """

    period: str
    statements: tuple[Statement, ...]
    invoices: tuple[Invoice, ...]
    summaries: tuple[HostSummary, ...]
    state: SettlementState
    errors: tuple[SettlementError, ...]
    credit_pieces: tuple[CreditPiece, ...] = ()


def contracts_by_id(contracts: Iterable[ContractConfig]) -> dict[str, tuple[ContractConfig, ...]]:
    grouped: dict[str, list[ContractConfig]] = {}
    for c in contracts:
        grouped.setdefault(c.id, []).append(c)
    return {k: tuple(sorted(v, key=lambda c: c.effective_from)) for k, v in grouped.items()}


def _check_window(window: Window, contracts: Iterable[ContractConfig]) -> None:
    for c in contracts:
        for t in (c.effective_from, c.effective_to):
            if t is not None and window.period.start < t < window.period.end and t not in window.cuts:
                raise ValueError(
                    f"window does not cut at {format_instant(t)} where contract {c.id!r} changes; "
                    "build it with window_for(catalog.contracts, ...)"
                )


def settle(
    catalog: CatalogLike,
    window: Window,
    aggregates: Iterable[UsageAggregate],
    *,
    prior: SettlementState | None = None,
    credits: Iterable[Credit] = (),
    allocated: Iterable[CreditPiece] | None = None,
    users: Iterable[Sighting] | None = None,
) -> SettlementResult:
    """Settle one period; see the module docstring for the steps.

    `allocated`, when given, replaces step (2): the credits' pieces as the host allocated them
    (a licensor's verifier sees only its own models' usage, not what the allocation spans).
    `users`, when given: the period's distinct (model, customer, key, end user), counted on each
    statement for the models its contract covers (`settlement.users`); None: statements without.
    """
    sightings = None if users is None else tuple(users)
    prior = prior or SettlementState()
    _check_window(window, catalog.contracts)
    period = window.period
    errors: list[SettlementError] = []
    lineages: dict[str, tuple[str, ...]] = {}
    kinds = kinds_of(catalog.models)  # what each line bills: its model's kind

    def lineage(model: str) -> tuple[str, ...]:
        if model not in lineages:
            lineages[model] = lineage_of(model, catalog.models)
        return lineages[model]

    # (1) rate
    cells, errs = rate_aggregates(aggregates, catalog.prices)
    errors += errs
    # (2) credits
    credit_list = sorted(credits)
    by_id: dict[str, Credit] = {}
    for cr in credit_list:
        if cr.id in by_id:
            errors.append(SettlementError(
                "credit-duplicate", f"credit id {cr.id!r} appears twice; the second is left out"))
        else:
            by_id[cr.id] = cr
    if allocated is None:
        pieces, errs = allocate_credits(by_id.values(), cells, window)
        errors += errs
    else:
        pieces = tuple(sorted(allocated))
    usable = {p.credit_id for p in pieces}
    by_id = {k: v for k, v in by_id.items() if k in usable}
    # (3) statements
    licensors = {lic.id: lic for lic in catalog.licensors}
    statements: list[Statement] = []
    groups = contracts_by_id(catalog.contracts)
    for cid in sorted(groups, key=lambda k: (groups[k][0].licensor, k)):
        versions = groups[cid]
        if not any(v.active(window.edges[s], window.edges[s + 1]) for v in versions for s in range(window.segments)):
            continue
        carried = prior.get(cid)
        if carried is not None and carried.period >= period.label:
            errors.append(SettlementError(
                "period-closed", f"contract {cid!r} was already settled for {carried.period}; "
                f"{period.label} cannot be closed after it"))
            continue
        earnings = contract_earnings(versions, window, cells, pieces, by_id, lineage, kinds)
        head = versions[0]
        places = places_of(head.currency)
        usage_share = sum((x.share for x in earnings.lines), ZERO)
        adj_share = sum((a.share for a in earnings.adjustments), ZERO)
        earned = usage_share + adj_share
        balance = carried.recoupment_balance if carried else ZERO
        g = apply_guarantee(earned, round_half_even(earnings.guarantee_exact, places), head.recoupable, balance)
        totals = StatementTotals(
            gross=sum((x.gross for x in earnings.lines), ZERO),
            excluded=sum((x.excluded for x in earnings.lines), ZERO),
            basis=sum((x.basis for x in earnings.lines), ZERO),
            usage_share=usage_share,
            adjustments_basis=sum((a.basis for a in earnings.adjustments), ZERO),
            adjustments_share=adj_share,
            earned=earned,
            minimum_guarantee=g.minimum_guarantee,
            true_up=g.true_up,
            recouped=g.recouped,
            amount_due=g.amount_due,
            recoupment_before=balance,
            recoupment_after=g.balance_after,
        )
        lic = licensors.get(head.licensor)
        statements.append(Statement(
            host=catalog.server.host_name, licensor=head.licensor, licensor_name=lic.name if lic else head.licensor,
            contract=cid, period=period.label, period_start=period.start, period_end=period.end,
            currency=head.currency, number=(carried.number + 1) if carried else 1,
            previous_hash=carried.last_hash if carried else None,
            segments=earnings.segments, lines=earnings.lines, adjustments=earnings.adjustments,
            tiers=earnings.tiers, totals=totals, cutoff=window.closed_at,
            users=None if sightings is None else users_of(versions, sightings, lineage),
        ))
    # (4) invoices
    invoices = build_invoices(catalog.server.host_name, period.label, period.start, period.end, cells,
                              by_id.values(), window.closed_at, kinds)
    # (5) host summaries
    summaries = []
    for currency in sorted({i.currency for i in invoices} | {s.currency for s in statements}):
        gross = sum((i.subtotal for i in invoices if i.currency == currency), ZERO)
        credited = sum((i.credits_total for i in invoices if i.currency == currency), ZERO)
        due = sum((s.totals.amount_due for s in statements if s.currency == currency), ZERO)
        summaries.append(HostSummary(currency, gross, credited, due, gross - credited - due))
    # (6) state
    return SettlementResult(period.label, tuple(statements), invoices, tuple(summaries),
                            next_state(prior, statements), tuple(errors), pieces)
