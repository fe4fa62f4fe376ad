"""The whole catalog and the lookups the gateway runs on every request.

A `Catalog` is always checked: its validator runs every cross-section check of `checks.py` and
refuses the catalog with all their errors at once. It is immutable, so the lookups index it once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from revshare.config.checks import CatalogInvalid, validate_catalog
from revshare.config.sections import (
    Customer,
    EngineConfig,
    KeyLimits,
    LogConfig,
    ModelConfig,
    Price,
    ServerConfig,
)
from revshare.settlement.terms import ContractConfig, LicensorConfig

__all__ = ["DATABASE_URL_ENV", "Catalog"]

DATABASE_URL_ENV = "REVSHARE_DATABASE_URL"


class Catalog(BaseModel):
    """The whole validated catalog. Immutable; reload it to change it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: ServerConfig = ServerConfig()
    log: LogConfig = LogConfig()
    engines: tuple[EngineConfig, ...] = ()
    models: tuple[ModelConfig, ...] = ()
    prices: tuple[Price, ...] = ()
    customers: tuple[Customer, ...] = ()
    key_limits: tuple[KeyLimits, ...] = ()
    licensors: tuple[LicensorConfig, ...] = ()
    contracts: tuple[ContractConfig, ...] = ()
    source: str = "<catalog>"

    @model_validator(mode="after")
    def _cross_checks(self) -> Catalog:
        errors = validate_catalog(self)
        if errors:
            raise CatalogInvalid(errors)
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
