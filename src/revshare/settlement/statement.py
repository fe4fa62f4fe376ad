"""The licensor statement: frozen records, and their JSON form (money as strings).

A statement covers one contract (all its versions) of one licensor for one period. Its JSON is
what is hashed (`render.statement_hash`) and chained: each statement names the hash of the one
before it for the same contract.

In the JSON every money field is written at the currency's minor unit (`rounding.amount_text`:
padded, never rounded, so "0" is "0.00"); per-unit prices (a royalty's `per_million`) keep any
further decimals, and rates (`share`, `rate`) are written as in the catalog: they are not money.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from revshare.instants import format_instant
from revshare.money import money_str
from revshare.settlement.kinds import CHAT
from revshare.settlement.rounding import amount_text, places_of
from revshare.settlement.users import ActiveUsers

__all__ = [
    "EMPTY_SHA256",
    "AdjustmentLine",
    "LeafSet",
    "LogRef",
    "SegmentTerms",
    "Statement",
    "StatementLine",
    "StatementTotals",
    "TierLine",
]


def _m(amount: Decimal | None, places: int) -> str | None:
    return None if amount is None else amount_text(amount, places)


def _rate(rate: Decimal | None) -> str | None:
    return None if rate is None else money_str(rate)


EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256 of no bytes


@dataclass(frozen=True, slots=True)
class LeafSet:
    """A set of log leaves named by count and digest: SHA-256 over their RFC 6962 leaf hashes, in index order."""

    count: int = 0
    sha256: str = EMPTY_SHA256

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeafSet:
        return cls(int(data["count"]), str(data["sha256"]))

    @classmethod
    def of_hashes(cls, leaf_hashes: Iterable[bytes]) -> LeafSet:
        """The set of the leaves with these RFC 6962 leaf hashes, in index order (the one digest
        both the bundle's writer and the verifier compute)."""
        digest = hashlib.sha256()
        count = 0
        for leaf_hash in leaf_hashes:
            digest.update(leaf_hash)
            count += 1
        return cls(count, digest.hexdigest()) if count else cls()


@dataclass(frozen=True, slots=True)
class LogRef:
    """Where the statement's records sit in the licensor's verifiable log (docs/VERIFY.md).

    Attributes:
      origin, size, root: the checkpoint of this close (root as hex): the log's leaves with
        seq <= `through_seq`.
      first_seq, last_seq: the seqs of the first and last leaf of the range (None: no leaf).
      previous_size, previous_root: the checkpoint of the previous close (size 0: the empty tree).
        The range is the leaves [previous_size, size); their seqs are in (after_seq, through_seq].
      after_seq, through_seq: the ledger cut-offs (last seq) of the previous close and this one.
      cut_seqs: per window cut, the last ledger seq appended before it (late usage is placed
        in a segment by its append time; seqs are appended in time order).
      carried: leaves before the range that started in this period (appended before the
        previous close): settled here; `deferred` of the previous statement.
      deferred: leaves up to this checkpoint that started after the period: settled later.
    """

    origin: str
    size: int
    root: str
    first_seq: int | None
    last_seq: int | None
    previous_size: int = 0
    previous_root: str = EMPTY_SHA256
    after_seq: int = 0
    through_seq: int = 0
    cut_seqs: tuple[int, ...] = ()
    carried: LeafSet = LeafSet()
    deferred: LeafSet = LeafSet()

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.origin, "size": self.size, "root": self.root,
                "previous": {"size": self.previous_size, "root": self.previous_root},
                "first_index": self.previous_size, "last_index": self.size - 1,
                "first_seq": self.first_seq, "last_seq": self.last_seq,
                "after_seq": self.after_seq, "through_seq": self.through_seq, "cut_seqs": list(self.cut_seqs),
                "carried": self.carried.to_json(), "deferred": self.deferred.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogRef:
        """The inverse of `to_json` (raises KeyError, TypeError or ValueError on a malformed one)."""
        prev = data["previous"]
        return cls(str(data["origin"]), int(data["size"]), str(data["root"]),
                   None if data["first_seq"] is None else int(data["first_seq"]),
                   None if data["last_seq"] is None else int(data["last_seq"]),
                   int(prev["size"]), str(prev["root"]), int(data["after_seq"]), int(data["through_seq"]),
                   tuple(int(s) for s in data["cut_seqs"]), LeafSet.from_json(data["carried"]),
                   LeafSet.from_json(data["deferred"]))


@dataclass(frozen=True, slots=True)
class SegmentTerms:
    """The terms in force over one segment [start, end) of the period; `kind` "none": no version.

    `scope` lists the version's model globs and, as "lineage:<model>", its lineage root.
    """

    index: int
    start: datetime
    end: datetime
    kind: str
    scope: tuple[str, ...]
    basis: str
    share: Decimal | None
    tiers: tuple[tuple[Decimal | None, Decimal], ...]
    royalty: tuple[tuple[str, str, Decimal], ...]
    minimum_guarantee: Decimal
    exempt_customers: tuple[str, ...]
    exempt_keys: tuple[str, ...]

    def to_json(self, places: int) -> dict[str, Any]:
        """`places`: the currency's minor unit, for the money terms (`up_to`, `per_million`, the guarantee)."""
        return {
            "index": self.index, "start": format_instant(self.start), "end": format_instant(self.end),
            "kind": self.kind,
            "scope": list(self.scope), "basis": self.basis, "share": _rate(self.share),
            "tiers": [{"up_to": _m(u, places), "share": money_str(s)} for u, s in self.tiers],
            "royalty": [{"models": g, "direction": d, "per_million": amount_text(a, places)}
                        for g, d, a in self.royalty],
            "minimum_guarantee": amount_text(self.minimum_guarantee, places),
            "exempt_customers": list(self.exempt_customers), "exempt_keys": list(self.exempt_keys),
        }


@dataclass(frozen=True, slots=True)
class StatementLine:
    """Usage of one model in one direction over one segment.

    Attributes:
      requests, tokens: all charged usage; excluded_tokens: of exempt customers or keys.
      gross: sum of the customers' invoice amounts; excluded: the exempt part; basis = gross - excluded.
      share: the licensor's earning on this line, rounded once.
      model_kind: what the line bills, the model's kind: "chat" or "embedding" (`settlement.kinds`).
    """

    segment: int
    model: str
    direction: str
    requests: int
    tokens: int
    excluded_tokens: int
    gross: Decimal
    excluded: Decimal
    basis: Decimal
    share: Decimal
    model_kind: str = CHAT

    def to_json(self, places: int) -> dict[str, Any]:
        """`places`: the currency's minor unit."""
        return {
            "segment": self.segment, "model": self.model, "model_kind": self.model_kind, "direction": self.direction,
            "requests": self.requests, "tokens": self.tokens, "excluded_tokens": self.excluded_tokens,
            "gross": amount_text(self.gross, places), "excluded": amount_text(self.excluded, places),
            "basis": amount_text(self.basis, places), "share": amount_text(self.share, places),
        }


@dataclass(frozen=True, slots=True)
class AdjustmentLine:
    """A dated adjustment: late usage (per model and direction) or a credit piece (per model).

    Attributes:
      kind: "late_usage", "credit", "refund" or "discount".
      ref: the credit id, or "late" for late usage.
      amount: effect on revenue (positive for late usage, negative for credits);
      excluded: the exempt part of it; basis: its effect on this contract's basis.
      model_kind: the kind of `model` ("chat" or "embedding"), as on the statement's lines.
    """

    segment: int
    kind: str
    ref: str
    date: str
    reason: str
    model: str
    direction: str
    tokens: int
    excluded_tokens: int
    amount: Decimal
    excluded: Decimal
    basis: Decimal
    share: Decimal
    model_kind: str = CHAT

    def to_json(self, places: int) -> dict[str, Any]:
        """`places`: the currency's minor unit."""
        return {
            "segment": self.segment, "kind": self.kind, "ref": self.ref, "date": self.date,
            "reason": self.reason, "model": self.model, "model_kind": self.model_kind, "direction": self.direction,
            "tokens": self.tokens, "excluded_tokens": self.excluded_tokens,
            "amount": amount_text(self.amount, places),
            "excluded": amount_text(self.excluded, places), "basis": amount_text(self.basis, places),
            "share": amount_text(self.share, places),
        }


@dataclass(frozen=True, slots=True)
class TierLine:
    """The part of a segment's basis that fell in one marginal band, and what it earned."""

    segment: int
    lower: Decimal
    upper: Decimal | None
    rate: Decimal
    basis: Decimal
    share: Decimal

    def to_json(self, places: int) -> dict[str, Any]:
        """`places`: the currency's minor unit (the band's bounds are money too; its rate is not)."""
        return {
            "segment": self.segment, "lower": amount_text(self.lower, places), "upper": _m(self.upper, places),
            "rate": money_str(self.rate), "basis": amount_text(self.basis, places),
            "share": amount_text(self.share, places),
        }


@dataclass(frozen=True, slots=True)
class StatementTotals:
    """Sums and the guarantee.

    amount_due = earned + true_up - recouped, where earned = usage_share + adjustments_share.
    recoupment_after = recoupment_before + true_up (when recoupable) - recouped.
    """

    gross: Decimal
    excluded: Decimal
    basis: Decimal
    usage_share: Decimal
    adjustments_basis: Decimal
    adjustments_share: Decimal
    earned: Decimal
    minimum_guarantee: Decimal
    true_up: Decimal
    recouped: Decimal
    amount_due: Decimal
    recoupment_before: Decimal
    recoupment_after: Decimal

    def to_json(self, places: int) -> dict[str, Any]:
        """`places`: the currency's minor unit."""
        names = ("gross", "excluded", "basis", "usage_share", "adjustments_basis", "adjustments_share",
                 "earned", "minimum_guarantee", "true_up", "recouped", "amount_due",
                 "recoupment_before", "recoupment_after")
        return {n: amount_text(getattr(self, n), places) for n in names}


@dataclass(frozen=True, slots=True)
class Statement:
    """A licensor's statement for one contract and period.

    Attributes:
      host: the host's name (catalog `server.host_name`); licensor, licensor_name: who is paid.
      contract: the contract id; period: "YYYY-MM"; currency: the contract's.
      number: 1 for the contract's first statement, then +1 per period.
      previous_hash: hex SHA-256 of the previous statement's JSON (JCS), None for the first.
      log: the checkpoint covering the period; None until the verifiable log fills it in.
      cutoff: the close's cut-off (`Window.closed_at`): the records appended before it are this
        close's; None when settled without a close. `closed_early`: it came before the month ended.
      users: the period's active users of the contract's models (`settlement.users`); None when
        settled without them (then its JSON has no `users`, as statements issued before them).
    """

    host: str
    licensor: str
    licensor_name: str
    contract: str
    period: str
    period_start: datetime
    period_end: datetime
    currency: str
    number: int
    previous_hash: str | None
    segments: tuple[SegmentTerms, ...]
    lines: tuple[StatementLine, ...]
    adjustments: tuple[AdjustmentLine, ...]
    tiers: tuple[TierLine, ...]
    totals: StatementTotals
    log: LogRef | None = None
    cutoff: datetime | None = None
    users: ActiveUsers | None = None

    @property
    def closed_early(self) -> bool:
        return self.cutoff is not None and self.cutoff < self.period_end

    def to_json(self) -> dict[str, Any]:
        places = places_of(self.currency)
        return {
            "type": "revshare.statement/v1",
            "host": self.host, "licensor": self.licensor, "licensor_name": self.licensor_name,
            "contract": self.contract, "period": self.period,
            "period_start": format_instant(self.period_start), "period_end": format_instant(self.period_end),
            "cutoff": None if self.cutoff is None else format_instant(self.cutoff),
            "closed_early": self.closed_early,
            "currency": self.currency, "number": self.number, "previous_hash": self.previous_hash,
            "log": None if self.log is None else self.log.to_json(),
            "segments": [s.to_json(places) for s in self.segments],
            "lines": [line.to_json(places) for line in self.lines],
            "adjustments": [a.to_json(places) for a in self.adjustments],
            "tiers": [t.to_json(places) for t in self.tiers],
            "totals": self.totals.to_json(places),
            **({} if self.users is None else {"users": self.users.to_json()}),
        }
