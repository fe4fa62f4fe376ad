"""The catalog: one TOML file that declares engines, models, prices, customers and licensors.

`load_catalog(path)` returns a validated, immutable `Catalog` or raises `ConfigError` with one
line per mistake, each naming the file, the entry and the field, e.g.::

    revshare.toml: models[1] (id='llama-ft').engine: unknown engine 'gpu0'

    sections.py   one pydantic model per TOML table, and its field parsers
    checks.py     the checks across sections: `validate_*` functions returning `EntryError`s
    catalog.py    `Catalog`: the sections, checked, and the lookups the gateway runs per request
    loading.py    TOML in, `Catalog` out, or `ConfigError` naming file, entry and field
"""

from __future__ import annotations

from revshare.config.catalog import Catalog
from revshare.config.loading import ConfigError, load_catalog, parse_catalog
from revshare.config.sections import (
    BudgetPeriod,
    Customer,
    EngineConfig,
    KeyLimits,
    Limits,
    LogConfig,
    ModelConfig,
    Price,
    ServerConfig,
)

__all__ = [
    "BudgetPeriod",
    "Catalog",
    "ConfigError",
    "Customer",
    "EngineConfig",
    "KeyLimits",
    "Limits",
    "LogConfig",
    "ModelConfig",
    "Price",
    "ServerConfig",
    "load_catalog",
    "parse_catalog",
]
