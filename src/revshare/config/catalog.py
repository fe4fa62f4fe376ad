"""The whole catalog and the lookups the gateway runs on every request.

A `Catalog` is always checked: its validator runs every cross-section check of `checks.py` and
refuses the catalog with all their errors at once. It is immutable, so the lookups index it once.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from revshare.config.analytics_section import AnalyticsConfig
from revshare.config.checks import CatalogInvalid, EntryError, validate_catalog
from revshare.config.scaleout_sections import RateLimitsConfig
from revshare.config.sections import (
    Customer,
    EngineConfig,
    KeyLimits,
    LogConfig,
    ModelConfig,
    Price,
    ServerConfig,
    WitnessConfig,
)
from revshare.instants import coerce_instant
from revshare.settlement.terms import ContractConfig, LicensorConfig

__all__ = ["DATABASE_URL_ENV", "LICENCE_FILE_MAX", "Catalog", "LicenceTerms", "LicenceTexts", "Standing",
           "read_licence_files"]

DATABASE_URL_ENV = "REVSHARE_DATABASE_URL"
LICENCE_FILE_MAX = 1_048_576  # bytes of one licence, use policy or notice file


# Where a customer stands with a licence's terms: "accepted" (the current version), "grace" (an
# earlier version, within the grace period of the current one), "pending" (must accept before
# calling), "not_required" (the terms ask for no acceptance, and it has accepted no version).
Standing = Literal["accepted", "grace", "pending", "not_required"]

_URL = r"^https?://[^\s]+$"


class LicenceTerms(BaseModel):
    """The terms of a model's licence that bind the host (docs/LICENSING.md): the agreement and its
    use policy (links, and text files read at load), the attribution and notice to show, whether
    each customer must accept the current version before calling, and user counts to watch.

    File paths are relative to the catalog's folder; `Catalog` checks them and reads them. (A
    catalog section, kept here beside the files it reads.)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A path segment of /v1/me/terms/{id}/accept: no slash, colon or @.
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)
    # The version customers accept, e.g. the date the terms were last modified ("2025-03-24").
    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$")
    url: str = Field(max_length=2000, pattern=_URL)
    text_file: str | None = Field(default=None, min_length=1)
    use_policy_url: str | None = Field(default=None, max_length=2000, pattern=_URL)
    use_policy_file: str | None = Field(default=None, min_length=1)
    # What the host must display, e.g. "Built with Llama"; passed on in GET /v1/models.
    attribution: str = Field(default="", max_length=500)
    # The notice text to ship with the model, inline or in a file (not both).
    notice: str = Field(default="", max_length=10_000)
    notice_file: str | None = Field(default=None, min_length=1)
    acceptance_required: bool = False
    # When this version took effect; an acceptance of an earlier version still counts until
    # effective_from + grace_days.
    effective_from: datetime | None = None
    grace_days: int = Field(default=0, ge=0, le=3650, strict=True)
    # Monthly active user counts to watch (GET /admin/terms/users), e.g. [700000000].
    mau_thresholds: tuple[Annotated[int, Field(ge=1, strict=True)], ...] = ()

    _time = field_validator("effective_from", mode="before")(lambda v: None if v is None else coerce_instant(v))

    @field_validator("notice_file")
    @classmethod
    def _one_notice(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("notice"):
            raise ValueError("give the notice inline (notice) or in a file (notice_file), not both")
        return value

    @field_validator("grace_days")
    @classmethod
    def _grace_needs_a_start(cls, value: int, info: ValidationInfo) -> int:
        # effective_from absent from info.data: it failed on its own, and that error says so.
        if value and "effective_from" in info.data and info.data["effective_from"] is None:
            raise ValueError("grace_days counts from effective_from (when this version took effect): set it")
        return value

    @property
    def grace_until(self) -> datetime | None:
        """Until when an acceptance of an earlier version still counts; None: it never does."""
        if self.effective_from is None:
            return None
        return self.effective_from + timedelta(days=self.grace_days)

    def standing(self, accepted: Collection[str], now: datetime) -> Standing:
        """Where a customer that accepted the versions `accepted` stands at `now`."""
        if self.version in accepted:
            return "accepted"
        if not self.acceptance_required:
            return "not_required"
        until = self.grace_until
        if accepted and until is not None and now < until:
            return "grace"
        return "pending"

    def allows(self, accepted: Collection[str], now: datetime) -> bool:
        """May a customer that accepted `accepted` call a model under these terms at `now`?"""
        return self.standing(accepted, now) != "pending"



@dataclass(frozen=True, slots=True)
class LicenceTexts:
    """A licence's texts as read at load: the agreement and the use policy (None without a file),
    and the notice (inline or from its file; empty without one)."""

    text: str | None = None
    use_policy: str | None = None
    notice: str = ""


def _read_text(folder: Path, name: str, loc: tuple[str | int, ...], errors: list[EntryError]) -> str | None:
    path = folder / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        errors.append(EntryError(loc, f"no such file {str(path)!r} (a path relative to the catalog's folder)"))
        return None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        errors.append(EntryError(loc, f"cannot read {str(path)!r}: {exc}"))
        return None
    if len(data) > LICENCE_FILE_MAX:
        errors.append(EntryError(loc, f"{str(path)!r} is {len(data)} bytes; at most {LICENCE_FILE_MAX}"))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        errors.append(EntryError(loc, f"{str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})"))
        return None


def read_licence_files(licences: tuple[LicenceTerms, ...], folder: Path) -> tuple[dict[str, LicenceTexts],
                                                                                  list[EntryError]]:
    """Each licence's files read (`text_file`, `use_policy_file`, `notice_file`, relative to
    `folder`), with an error naming the entry and field of each that cannot be."""
    texts: dict[str, LicenceTexts] = {}
    errors: list[EntryError] = []
    for i, terms in enumerate(licences):
        read = {field: _read_text(folder, name, ("licences", i, field), errors)
                for field in ("text_file", "use_policy_file", "notice_file")
                if (name := getattr(terms, field)) is not None}
        texts[terms.id] = LicenceTexts(read.get("text_file"), read.get("use_policy_file"),
                                       read.get("notice_file") or terms.notice)
    return texts, errors


class Catalog(BaseModel):
    """The whole validated catalog. Immutable; reload it to change it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: ServerConfig = ServerConfig()
    rate_limits: RateLimitsConfig = RateLimitsConfig()
    log: LogConfig = LogConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    engines: tuple[EngineConfig, ...] = ()
    models: tuple[ModelConfig, ...] = ()
    prices: tuple[Price, ...] = ()
    customers: tuple[Customer, ...] = ()
    key_limits: tuple[KeyLimits, ...] = ()
    licensors: tuple[LicensorConfig, ...] = ()
    contracts: tuple[ContractConfig, ...] = ()
    licences: tuple[LicenceTerms, ...] = ()
    witnesses: tuple[WitnessConfig, ...] = ()
    source: str = "<catalog>"
    _licence_texts: dict[str, LicenceTexts] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_checks(self) -> Catalog:
        errors = validate_catalog(self)
        # Licence files are relative to the catalog's folder (the working directory without a file).
        texts, file_errors = read_licence_files(self.licences, Path(self.source).parent)
        errors += file_errors
        if errors:
            raise CatalogInvalid(errors)
        self._licence_texts = texts
        return self

    # Lookups run on every request: index once (the catalog is immutable).
    @cached_property
    def _models_by_id(self) -> dict[str, ModelConfig]:
        return {m.id: m for m in self.models}

    @cached_property
    def _customers_by_name(self) -> dict[str, Customer]:
        return {c.name: c for c in self.customers}

    @cached_property
    def _key_limits_by_id(self) -> dict[str, KeyLimits]:
        return {k.key_id: k for k in self.key_limits}

    @cached_property
    def _chains(self) -> dict[str, tuple[str, ...]]:
        return {}

    @cached_property
    def _licences_by_id(self) -> dict[str, LicenceTerms]:
        return {t.id: t for t in self.licences}

    @cached_property
    def _licence_chains(self) -> dict[str, tuple[LicenceTerms, ...]]:
        return {}

    @cached_property
    def _unit_prices(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {p.version: (p.input_per_million, p.output_per_million) for p in self.prices}

    def unit_prices(self, version: str) -> tuple[Decimal, Decimal]:
        """A price version's (input, output) price per million tokens, as invoices price it;
        zero for a version the catalog no longer holds."""
        return self._unit_prices.get(version, (Decimal(0), Decimal(0)))

    def model(self, model_id: str) -> ModelConfig | None:
        return self._models_by_id.get(model_id)

    def engine(self, engine_id: str) -> EngineConfig:
        return next(e for e in self.engines if e.id == engine_id)

    def customer(self, name: str) -> Customer | None:
        return self._customers_by_name.get(name)

    def key_limit(self, key_id: str) -> KeyLimits | None:
        return self._key_limits_by_id.get(key_id)

    def _lineage(self, model_id: str) -> Iterator[ModelConfig]:
        """The model and its base models, nearest first (the checks refused cycles; stop at one)."""
        seen: set[str] = set()
        current = self.model(model_id)
        while current is not None and current.id not in seen:
            seen.add(current.id)
            yield current
            current = self.model(current.base_model) if current.base_model else None

    def licensor_chain(self, model_id: str) -> tuple[str, ...]:
        """Licensors of a model by lineage: its own first, then its base model's, and so on."""
        cached = self._chains.get(model_id)
        if cached is not None:
            return cached
        names: list[str] = []
        for m in self._lineage(model_id):
            if m.licensor and m.licensor not in names:
                names.append(m.licensor)
        self._chains[model_id] = tuple(names)
        return self._chains[model_id]

    def licence(self, licence_id: str) -> LicenceTerms | None:
        return self._licences_by_id.get(licence_id)

    def licence_texts(self, licence_id: str) -> LicenceTexts:
        """The texts read at load for a licence (empty for an unknown one)."""
        return self._licence_texts.get(licence_id) or LicenceTexts()

    def licence_chain(self, model_id: str) -> tuple[LicenceTerms, ...]:
        """The licences whose terms bind the host for a model, by lineage as licensors are: its own
        first, then its base model's, and so on (a fine-tune is bound by its base's terms too)."""
        cached = self._licence_chains.get(model_id)
        if cached is not None:
            return cached
        chain: list[LicenceTerms] = []
        for m in self._lineage(model_id):
            terms = self.licence(m.licence) if m.licence else None
            if terms is not None and terms not in chain:
                chain.append(terms)
        self._licence_chains[model_id] = tuple(chain)
        return self._licence_chains[model_id]

    def models_under(self, licence_id: str) -> tuple[str, ...]:
        """The models whose licence chain holds this licence, in catalog order."""
        return tuple(m.id for m in self.models if any(t.id == licence_id for t in self.licence_chain(m.id)))

    def price_at(self, model_id: str, when: datetime) -> Price | None:
        """The price version in force for a model at a moment, or None before the first one."""
        candidates = [p for p in self.prices if p.model == model_id and p.effective_from <= when]
        return max(candidates, key=lambda p: p.effective_from, default=None)

    def database_url(self) -> str:
        """REVSHARE_DATABASE_URL, else server.database_url, else SQLite in the data dir."""
        url = os.environ.get(DATABASE_URL_ENV) or self.server.database_url
        if url:
            return url
        return f"sqlite:///{Path(self.server.data_dir) / 'ledger.db'}"

    def analytics_path(self) -> Path:
        """The analytics store's DuckDB file: analytics.path, else `analytics.duckdb` in the data dir."""
        return Path(self.analytics.path) if self.analytics.path else Path(self.server.data_dir) / "analytics.duckdb"
