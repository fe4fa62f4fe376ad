"""Licensors and contracts as they appear in `revshare.toml`, and the checks on them.

A contract id may appear in several `[[contracts]]` entries: each is one *version* of the
contract, in force over `[effective_from, effective_to)`. Versions of one id must not overlap
and must agree on licensor, currency, period and `recoupable`; their share terms, basis,
scope and guarantee may change (a change inside a month splits that month into segments).

`validate_terms()` returns error values (`TermsError(loc, message)`); `revshare.config` reports
every one of them, one line each, reading like
``revshare.toml: contracts[2] (id='meta-2026').share: ...``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from revshare.instants import coerce_instant, format_instant
from revshare.money import catalog_amount

__all__ = [
    "ContractConfig",
    "LicensorConfig",
    "ModelLike",
    "Royalty",
    "TermsError",
    "Tier",
    "lineage_of",
    "validate_terms",
]

ONE = Decimal(1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _decimal(value: Any) -> Decimal:
    """A non-negative Decimal from a string or int; floats are refused (they are inexact)."""
    return catalog_amount(value, "money and shares")


def _fraction(value: Any) -> Decimal:
    share = _decimal(value)
    if share > ONE:
        raise ValueError(f"a share is a fraction of revenue between 0 and 1, got {share}")
    return share


class LicensorConfig(_Strict):
    """A model licensor: who receives statements."""

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")
    name: str = Field(min_length=1)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    contact: str = ""
    description: str = ""


class Tier(_Strict):
    """A marginal band: `share` of the period's basis revenue up to `up_to` (absent: no limit)."""

    up_to: Decimal | None = None
    share: Decimal

    _up = field_validator("up_to", mode="before")(lambda v: None if v is None else _decimal(v))
    _share = field_validator("share", mode="before")(lambda v: _fraction(v))


class Royalty(_Strict):
    """A per-token royalty: `per_million` per 1M tokens of `direction` on models matching `models`."""

    models: str = "*"
    direction: Literal["input", "output"]
    per_million: Decimal

    _amount = field_validator("per_million", mode="before")(lambda v: _decimal(v))


class ContractConfig(_Strict):
    """One version of a licensor agreement; see the module docstring for versions."""

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")
    licensor: str
    basis: Literal["gross", "net"] = "gross"
    share: Decimal | None = None
    tiers: tuple[Tier, ...] | None = None
    royalty: tuple[Royalty, ...] | None = None
    minimum_guarantee: Decimal = Decimal(0)
    recoupable: bool = False
    models: tuple[str, ...] = ()
    lineage: str | None = None
    exempt_customers: tuple[str, ...] = ()
    exempt_keys: tuple[str, ...] = ()
    effective_from: datetime
    effective_to: datetime | None = None
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    period: Literal["month"] = "month"

    _share = field_validator("share", mode="before")(lambda v: None if v is None else _fraction(v))
    _mg = field_validator("minimum_guarantee", mode="before")(lambda v: _decimal(v))
    _from = field_validator("effective_from", mode="before")(lambda v: coerce_instant(v))
    _to = field_validator("effective_to", mode="before")(lambda v: None if v is None else coerce_instant(v))

    @model_validator(mode="after")
    def _one_kind(self) -> ContractConfig:
        kinds = [k for k in ("share", "tiers", "royalty") if getattr(self, k) is not None]
        if len(kinds) != 1:
            got = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"give exactly one of share, tiers or royalty (got {got})")
        if self.tiers is not None:
            _check_tiers(self.tiers)
        if self.royalty is not None and not self.royalty:
            raise ValueError("royalty needs at least one {models, direction, per_million} entry")
        if not self.models and self.lineage is None:
            raise ValueError("a contract needs a scope: models (ids or globs) and/or lineage")
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self

    @property
    def kind(self) -> Literal["share", "tiers", "royalty"]:
        if self.share is not None:
            return "share"
        return "tiers" if self.tiers is not None else "royalty"

    @property
    def max_share(self) -> Decimal:
        """The largest fraction of revenue this version can take (0 for a per-token royalty)."""
        if self.share is not None:
            return self.share
        if self.tiers is not None:
            return max(t.share for t in self.tiers)
        return Decimal(0)

    def active(self, start: datetime, end: datetime) -> bool:
        """Whether this version is in force over all of [start, end) (segments never straddle)."""
        return self.effective_from <= start and (self.effective_to is None or end <= self.effective_to)

    def covers(self, model_id: str, lineage: Sequence[str]) -> bool:
        """Whether a model is in scope: by id or glob, or by a base model in its lineage."""
        if any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self.models):
            return True
        return self.lineage is not None and self.lineage in lineage

    def exempts(self, customer: str, key_id: str) -> bool:
        return customer in self.exempt_customers or key_id in self.exempt_keys

    def royalty_per_million(self, model_id: str, direction: str) -> Decimal:
        """The first royalty rule matching the model and direction, else zero."""
        for rule in self.royalty or ():
            if rule.direction == direction and fnmatch.fnmatchcase(model_id, rule.models):
                return rule.per_million
        return Decimal(0)


def _check_tiers(tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        raise ValueError("tiers needs at least one band")
    previous = Decimal(0)
    for i, tier in enumerate(tiers):
        last = i == len(tiers) - 1
        if tier.up_to is None and not last:
            raise ValueError(f"tiers[{i}]: only the last band may leave up_to out")
        if tier.up_to is not None and tier.up_to <= previous:
            raise ValueError(f"tiers[{i}]: up_to must increase (got {tier.up_to} after {previous})")
        if tier.up_to is not None:
            previous = tier.up_to
    if tiers[-1].up_to is not None:
        raise ValueError("the last band must leave up_to out (it has no upper limit)")


# ---------------------------------------------------------------------------- cross-checks


class _ModelLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def base_model(self) -> str | None: ...


ModelLike = _ModelLike  # what lineage needs of a model: its id and base model


class _PriceLike(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def currency(self) -> str: ...


@dataclass(frozen=True, slots=True)
class TermsError:
    """A contract or licensor entry that cannot be used.

    Attributes:
      loc: where, as a pydantic-style location, e.g. ("contracts", 2, "share").
      message: what is wrong, naming the other entries involved.
    """

    loc: tuple[str | int, ...]
    message: str


def lineage_of(model_id: str, models: Sequence[_ModelLike]) -> tuple[str, ...]:
    """The model and its base models, nearest first (cycles are stopped, config reports them)."""
    by_id = {m.id: m for m in models}
    chain: list[str] = []
    current: str | None = model_id
    while current is not None and current not in chain:
        chain.append(current)
        found = by_id.get(current)
        current = found.base_model if found is not None else None
    return tuple(chain)


def validate_terms(
    licensors: Sequence[LicensorConfig],
    contracts: Sequence[ContractConfig],
    models: Sequence[_ModelLike],
    prices: Sequence[_PriceLike],
    customers: Sequence[str],
) -> list[TermsError]:
    """Every problem with the licensors and contracts, in file order."""
    errors: list[TermsError] = []
    seen: set[str] = set()
    for i, lic in enumerate(licensors):
        if lic.id in seen:
            errors.append(TermsError(("licensors", i, "id"), f"duplicate id {lic.id!r}"))
        seen.add(lic.id)
    model_ids = [m.id for m in models]
    for i, c in enumerate(contracts):
        errors.extend(_check_contract(i, c, seen, model_ids, models, prices, set(customers)))
    errors.extend(_check_versions(contracts))
    errors.extend(_check_share_sums(contracts, models))
    return errors


def _check_contract(
    i: int,
    c: ContractConfig,
    licensor_ids: set[str],
    model_ids: list[str],
    models: Sequence[_ModelLike],
    prices: Sequence[_PriceLike],
    customers: set[str],
) -> list[TermsError]:
    errors: list[TermsError] = []
    if c.licensor not in licensor_ids:
        errors.append(TermsError(("contracts", i, "licensor"), f"unknown licensor {c.licensor!r}"))
    for pattern in c.models:
        if not any(fnmatch.fnmatchcase(m, pattern) for m in model_ids):
            errors.append(TermsError(("contracts", i, "models"), f"{pattern!r} matches no model"))
    if c.lineage is not None and c.lineage not in model_ids:
        errors.append(TermsError(("contracts", i, "lineage"), f"unknown model {c.lineage!r}"))
    for name in c.exempt_customers:
        if name not in customers:
            errors.append(TermsError(("contracts", i, "exempt_customers"), f"unknown customer {name!r}"))
    for p in prices:
        if c.covers(p.model, lineage_of(p.model, models)) and p.currency != c.currency:
            errors.append(
                TermsError(
                    ("contracts", i, "currency"),
                    f"contract is in {c.currency} but model {p.model!r} is priced in {p.currency}",
                )
            )
            break
    return errors


def _check_versions(contracts: Sequence[ContractConfig]) -> list[TermsError]:
    errors: list[TermsError] = []
    first: dict[str, int] = {}
    for i, c in enumerate(contracts):
        j = first.setdefault(c.id, i)
        if j == i:
            continue
        head = contracts[j]
        for attr in ("licensor", "currency", "period", "recoupable"):
            if getattr(c, attr) != getattr(head, attr):
                errors.append(
                    TermsError(
                        ("contracts", i, attr),
                        f"versions of contract {c.id!r} must agree on {attr}: "
                        f"{getattr(c, attr)!r} here, {getattr(head, attr)!r} in contracts[{j}]",
                    )
                )
        for k in range(j, i):
            other = contracts[k]
            if other.id == c.id and _overlap(c, other):
                errors.append(
                    TermsError(
                        ("contracts", i, "effective_from"),
                        f"overlaps contracts[{k}], an earlier version of contract {c.id!r}; "
                        "end it with effective_to",
                    )
                )
    return errors


def _overlap(a: ContractConfig, b: ContractConfig) -> bool:
    a_end = a.effective_to or datetime.max.replace(tzinfo=UTC)
    b_end = b.effective_to or datetime.max.replace(tzinfo=UTC)
    return a.effective_from < b_end and b.effective_from < a_end


def _check_share_sums(contracts: Sequence[ContractConfig], models: Sequence[_ModelLike]) -> list[TermsError]:
    """Stacked shares on one model must not exceed 100% at any instant.

    The set of versions in force only changes when one starts, so checking at every
    `effective_from` covers every instant. Per-token royalties are not fractions and do not count.
    """
    errors: list[TermsError] = []
    reported: set[tuple[str, ...]] = set()
    for m in models:
        chain = lineage_of(m.id, models)
        covering = [(i, c) for i, c in enumerate(contracts) if c.covers(m.id, chain) and c.kind != "royalty"]
        for _, start in covering:
            at = start.effective_from
            live = [(i, c) for i, c in covering
                    if c.effective_from <= at and (c.effective_to is None or at < c.effective_to)]
            total = sum((c.max_share for _, c in live), Decimal(0))
            names = tuple(sorted({c.id for _, c in live}))
            if total > ONE and names not in reported:
                reported.add(names)
                where = live[-1][0]
                errors.append(
                    TermsError(
                        ("contracts", where, "share" if live[-1][1].share is not None else "tiers"),
                        f"shares on model {m.id!r} sum to {total} (over 100%) from "
                        f"{format_instant(at)}: contracts {', '.join(repr(n) for n in names)}",
                    )
                )
    return errors
