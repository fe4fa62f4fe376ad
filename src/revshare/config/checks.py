"""The checks that look across the catalog's sections, as small functions returning errors.

Each `validate_*` function takes the whole catalog and returns every `EntryError` it finds, never
raising; `validate_catalog` runs them all, in the order of `VALIDATIONS`, so the first error
listed is the one an earlier, stop-at-the-first version of these checks reported. Only the edge
raises: `Catalog`'s validator wraps a non-empty list in `CatalogInvalid`, and `parse_catalog`
turns that into one `ConfigError` with a line per error, e.g.::

    revshare.toml: models[1] (id='llama-ft').engine: unknown engine 'gpu0'
    revshare.toml: prices[2] (model='lama-ft').model: unknown model 'lama-ft'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from revshare.config.sections import (
    Customer,
    EngineConfig,
    KeyLimits,
    LogConfig,
    ModelConfig,
    Price,
    WitnessConfig,
)
from revshare.instants import format_instant
from revshare.settlement.terms import ContractConfig, LicensorConfig, validate_terms

if TYPE_CHECKING:  # catalog.py imports this module; LicenceTerms lives there, beside the files it reads
    from revshare.config.catalog import LicenceTerms

__all__ = [
    "VALIDATIONS",
    "CatalogInvalid",
    "CatalogSections",
    "EntryError",
    "validate_budget_currency",
    "validate_catalog",
    "validate_contracts",
    "validate_key_limits",
    "validate_licences",
    "validate_lineage",
    "validate_model_kinds",
    "validate_model_references",
    "validate_models_priced",
    "validate_price_models",
    "validate_price_versions",
    "validate_unique_ids",
    "validate_witnesses",
]


@dataclass(frozen=True, slots=True)
class EntryError:
    """One mistake in the catalog.

    Attributes:
      loc: where, as a pydantic-style location into the TOML, e.g. ("models", 1, "engine"); the
        loader turns it into `models[1] (id='llama-ft').engine`.
      message: what is wrong, naming the other entries involved.
    """

    loc: tuple[str | int, ...]
    message: str


class CatalogInvalid(ValueError):
    """Carries every `EntryError` out of `Catalog`'s pydantic validator to `parse_catalog`."""

    def __init__(self, errors: Sequence[EntryError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = tuple(errors)


class CatalogSections(Protocol):
    """What the checks read: the sections of a `Catalog`."""

    @property
    def engines(self) -> tuple[EngineConfig, ...]: ...
    @property
    def models(self) -> tuple[ModelConfig, ...]: ...
    @property
    def prices(self) -> tuple[Price, ...]: ...
    @property
    def customers(self) -> tuple[Customer, ...]: ...
    @property
    def key_limits(self) -> tuple[KeyLimits, ...]: ...
    @property
    def licensors(self) -> tuple[LicensorConfig, ...]: ...
    @property
    def contracts(self) -> tuple[ContractConfig, ...]: ...
    @property
    def licences(self) -> tuple[LicenceTerms, ...]: ...
    @property
    def log(self) -> LogConfig: ...
    @property
    def witnesses(self) -> tuple[WitnessConfig, ...]: ...


def _duplicates(section: str, ids: Iterable[str]) -> list[EntryError]:
    seen: set[str] = set()
    errors: list[EntryError] = []
    for i, value in enumerate(ids):
        if value in seen:
            errors.append(EntryError((section, i), f"duplicate id {value!r}"))
        seen.add(value)
    return errors


def validate_unique_ids(catalog: CatalogSections) -> list[EntryError]:
    """Engine ids, model ids and customer names are each unique (key ids: `validate_key_limits`)."""
    return [
        *_duplicates("engines", (e.id for e in catalog.engines)),
        *_duplicates("models", (m.id for m in catalog.models)),
        *_duplicates("customers", (c.name for c in catalog.customers)),
    ]


def validate_model_references(catalog: CatalogSections) -> list[EntryError]:
    """Each model names a known engine, and a known base model if it has one."""
    engine_ids = {e.id for e in catalog.engines}
    model_ids = {m.id for m in catalog.models}
    errors: list[EntryError] = []
    for i, m in enumerate(catalog.models):
        for j, choice in enumerate(m.engines):
            if choice.id not in engine_ids:
                errors.append(EntryError(("models", i, "engines", j, "id"), f"unknown engine {choice.id!r}"))
        if not m.engines and m.engine not in engine_ids:
            errors.append(EntryError(("models", i, "engine"), f"unknown engine {m.engine!r}"))
        if m.base_model is not None and m.base_model not in model_ids:
            errors.append(EntryError(("models", i, "base_model"), f"unknown model {m.base_model!r}"))
    return errors


def _reaches_a_cycle(model: ModelConfig, by_id: Mapping[str, ModelConfig]) -> bool:
    seen: set[str] = set()
    current: ModelConfig | None = model
    while current is not None:
        if current.id in seen:
            return True
        seen.add(current.id)
        current = by_id.get(current.base_model) if current.base_model else None
    return False


def validate_model_kinds(catalog: CatalogSections) -> list[EntryError]:
    """An embedded engine loads one model file: its models are all chat or all embedding models."""
    embedded = {e.id for e in catalog.engines if e.kind == "embedded"}
    first: dict[str, ModelConfig] = {}
    errors: list[EntryError] = []
    for i, m in enumerate(catalog.models):
        if m.engine not in embedded:
            continue
        other = first.setdefault(m.engine, m)
        if other.kind != m.kind:
            errors.append(EntryError(("models", i, "kind"), f"the embedded engine {m.engine!r} loads one model file, "
                                     f"and its model {other.id!r} is of kind {other.kind!r}"))
    return errors


def validate_lineage(catalog: CatalogSections) -> list[EntryError]:
    """Following base_model from any model ends (an unknown base ends it too): no cycles."""
    by_id = {m.id: m for m in catalog.models}
    return [
        EntryError(("models", i, "base_model"), f"base_model lineage of {m.id!r} is a cycle")
        for i, m in enumerate(catalog.models)
        if _reaches_a_cycle(by_id.get(m.id, m), by_id)
    ]


def validate_price_models(catalog: CatalogSections) -> list[EntryError]:
    """Each price is for a known model."""
    model_ids = {m.id for m in catalog.models}
    return [
        EntryError(("prices", i, "model"), f"unknown model {p.model!r}")
        for i, p in enumerate(catalog.prices)
        if p.model not in model_ids
    ]


def validate_price_versions(catalog: CatalogSections) -> list[EntryError]:
    """No two prices of one model take effect at the same instant."""
    seen: set[tuple[str, datetime]] = set()
    errors: list[EntryError] = []
    for i, p in enumerate(catalog.prices):
        if (p.model, p.effective_from) in seen:
            errors.append(EntryError(
                ("prices", i, "effective_from"),
                f"model {p.model!r} already has a price effective from {format_instant(p.effective_from)}",
            ))
        seen.add((p.model, p.effective_from))
    return errors


def validate_models_priced(catalog: CatalogSections) -> list[EntryError]:
    """Each model has at least one price."""
    priced = {p.model for p in catalog.prices}
    return [
        EntryError(("models", i, "id"), f"model {m.id!r} has no entry in [[prices]]")
        for i, m in enumerate(catalog.models)
        if m.id not in priced
    ]


def validate_key_limits(catalog: CatalogSections) -> list[EntryError]:
    """Key ids are unique and each names a known customer."""
    customer_names = {c.name for c in catalog.customers}
    return [
        *_duplicates("key_limits", (k.key_id for k in catalog.key_limits)),
        *(EntryError(("key_limits", i, "customer"), f"unknown customer {k.customer!r}")
          for i, k in enumerate(catalog.key_limits) if k.customer not in customer_names),
    ]


def validate_budget_currency(catalog: CatalogSections) -> list[EntryError]:
    """A budget is counted in the price currency, so with any budget every price has one."""
    budgeted = [c.budget for c in catalog.customers] + [k.budget for k in catalog.key_limits]
    if any(b is not None for b in budgeted) and len({p.currency for p in catalog.prices}) > 1:
        return [EntryError(("prices",), "budgets need every price in one currency")]
    return []


def validate_contracts(catalog: CatalogSections) -> list[EntryError]:
    """The licensors and contracts, by `revshare.settlement.terms.validate_terms`."""
    customers = [c.name for c in catalog.customers]
    terms_errors = validate_terms(catalog.licensors, catalog.contracts, catalog.models, catalog.prices, customers)
    return [EntryError(e.loc, e.message) for e in terms_errors]


def validate_licences(catalog: CatalogSections) -> list[EntryError]:
    """Licence ids are unique and each model's `licence` names one. (Their files: `Catalog`.)"""
    known = {t.id for t in catalog.licences}
    return [
        *_duplicates("licences", (t.id for t in catalog.licences)),
        *(EntryError(("models", i, "licence"), f"unknown licence {m.licence!r} (not a [[licences]] id)")
          for i, m in enumerate(catalog.models) if m.licence is not None and m.licence not in known),
    ]


# A signed note holds at most 100 signature lines (revshare.tlog.note): the host's, and one per witness.
MAX_WITNESSES = 64
HOST_LOG = "_host"  # the log of records without a licensor (revshare.logstore.identity.HOST_LOG)


def validate_witnesses(catalog: CatalogSections) -> list[EntryError]:
    """Witness names and keys are unique, each follows known logs, and `[log] witness_quorum` is at most
    their number."""
    witnesses = catalog.witnesses
    errors = [
        *_duplicates("witnesses", (w.name for w in witnesses)),
        *(EntryError(("witnesses", i, "vkey"), f"the same key as witness {witnesses[j].name!r}")
          for i, w in enumerate(witnesses) for j in range(i) if witnesses[j].key == w.key),
    ]
    if len(witnesses) > MAX_WITNESSES:
        errors.append(EntryError(("witnesses",), f"{len(witnesses)} witnesses: at most {MAX_WITNESSES}"))
    logs = {lic.id for lic in catalog.licensors} | {m.licensor for m in catalog.models if m.licensor} | {HOST_LOG}
    errors += [EntryError(("witnesses", i, "logs"), f"unknown log {log_id!r} (the logs: {', '.join(sorted(logs))})")
               for i, w in enumerate(witnesses) for log_id in (w.logs or ()) if log_id not in logs]
    quorum = catalog.log.witness_quorum
    if quorum is not None and quorum > len(witnesses):
        errors.append(EntryError(("log", "witness_quorum"),
                                 f"{quorum} cosignatures wanted, but only {len(witnesses)} [[witnesses]] are named"))
    return errors


VALIDATIONS: tuple[Callable[[CatalogSections], list[EntryError]], ...] = (
    validate_unique_ids,
    validate_model_references,
    validate_model_kinds,
    validate_lineage,
    validate_price_models,
    validate_price_versions,
    validate_models_priced,
    validate_key_limits,
    validate_budget_currency,
    validate_contracts,
    validate_licences,
    validate_witnesses,
)


def validate_catalog(catalog: CatalogSections) -> list[EntryError]:
    """Every cross-section error of a catalog whose sections each parsed; empty if it is sound."""
    return [error for validate in VALIDATIONS for error in validate(catalog)]
