"""The catalog: one TOML file that declares engines, models, prices, customers and licensors.

`load_catalog(path)` returns a validated, immutable `Catalog` or raises `ConfigError` with a
message that names the file, the entry and the field, e.g.::

    revshare.toml: models[1] (id='llama-ft').engine: unknown engine 'gpu0'
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from revshare.money import catalog_amount
from revshare.settlement.terms import ContractConfig, LicensorConfig, validate_terms

__all__ = [
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

DATABASE_URL_ENV = "REVSHARE_DATABASE_URL"


class ConfigError(Exception):
    """A catalog that cannot be used; the message names file, entry and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _money(value: Any) -> Decimal:
    return catalog_amount(value, "money")


def _price_money(value: Any) -> Decimal:
    # At most 6 places: tokens x price / 1e6 is then exact at 12 places, so settlement can
    # recompute any amount from token sums alone.
    amount = _money(value)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        raise ValueError("a price per million tokens has at most 6 decimal places")
    return amount


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO 8601 date or datetime: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError("must be a date or datetime")


Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")]


class ServerConfig(_Strict):
    """How the gateway listens and where it keeps its ledger."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database_url: str | None = None
    data_dir: str = ".revshare"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    admin_token_env: str = "REVSHARE_ADMIN_TOKEN"
    host_name: str = "revshare"
    # Group commit: how many records one transaction may hold, and how long the writer may wait
    # for more before it commits what it has.
    commit_batch_max: int = Field(default=256, ge=1, le=10_000)
    commit_wait_ms: float = Field(default=0.0, ge=0.0, le=100.0)
    # SQLite durability: NORMAL survives a crash of the process; FULL also a power loss, at the
    # cost of an fsync per commit (docs/ARCHITECTURE.md, "Durability").
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    # Fail closed by default: a request whose intent cannot be written to the ledger gets 503
    # rather than unmetered service. true serves anyway and writes the records when the ledger
    # is back (docs/RELIABILITY.md).
    fail_open: bool = False


class LogConfig(_Strict):
    """The verifiable log (docs/TLOG.md): how often to integrate and sign, names, key file."""

    interval_s: float = Field(default=2.0, gt=0, le=3600)
    # Origins are `<origin_prefix>/<log id>`; default `<server.host_name>/revshare`.
    origin_prefix: str | None = Field(default=None, pattern=r"^[^\s+]+$")
    # The host's Ed25519 signing key; default `<server.data_dir>/log.key`, created on first start.
    key_path: str | None = None


class EngineConfig(_Strict):
    """An engine produces tokens: `embedded` (llama.cpp in process) or `upstream` (HTTP)."""

    id: Identifier
    kind: Literal["embedded", "upstream"]
    # embedded
    model_path: str | None = None
    n_ctx: int = Field(default=2048, ge=128)
    n_threads: int | None = Field(default=None, ge=1)
    seed: int = 0
    # upstream
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = Field(default=120.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=256, ge=1)

    @model_validator(mode="after")
    def _kind_fields(self) -> EngineConfig:
        if self.kind == "upstream":
            if not self.base_url:
                raise ValueError("an upstream engine needs base_url (e.g. http://127.0.0.1:8001/v1)")
            if not self.base_url.startswith(("http://", "https://")):
                raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
            if self.model_path:
                raise ValueError("model_path is for embedded engines; an upstream engine has base_url")
        elif self.base_url:
            raise ValueError("base_url is for upstream engines; an embedded engine has model_path")
        return self


class ModelConfig(_Strict):
    """A model the gateway serves, the engine that runs it and its lineage."""

    id: Identifier
    engine: str
    upstream_model: str | None = None
    licensor: str | None = None
    base_model: str | None = None
    context_length: int = Field(default=2048, ge=16)
    chat_format: str = "gemma"
    # Counts tokens when an upstream engine reports no usage: a GGUF file (only its vocabulary
    # is loaded) or "bundled" for the embedded Gemma package. Without one, counts are rougher.
    tokenizer: str | None = None
    description: str = ""

    @property
    def served_name(self) -> str:
        """The name the engine knows the model by."""
        return self.upstream_model or self.id


class Price(_Strict):
    """One version of a model's price: per million input and output tokens, from a date."""

    model: str
    input_per_million: Decimal
    output_per_million: Decimal
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    effective_from: datetime

    _money_in = field_validator("input_per_million", "output_per_million", mode="before")(
        lambda v: _price_money(v)
    )
    _time = field_validator("effective_from", mode="before")(lambda v: _utc(v))

    @property
    def version(self) -> str:
        """Stable id of this price version, kept on every record it rates."""
        stamp = self.effective_from.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.model}@{stamp}"


BudgetPeriod = Literal["day", "month", "total"]


class Limits(_Strict):
    """Admission limits shared by customers and keys (docs/RELIABILITY.md). None: no limit."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    max_concurrent: int | None = Field(default=None, ge=1)
    # Most the holder may spend per budget_period, in the price currency; "total" never resets
    # (prepaid credit).
    budget: Decimal | None = None
    budget_period: BudgetPeriod = "month"

    _budget = field_validator("budget", mode="before")(lambda v: None if v is None else _money(v))

    @property
    def limited(self) -> bool:
        return any(x is not None for x in (self.requests_per_minute, self.tokens_per_minute, self.max_concurrent))


class Customer(Limits):
    """A customer, the models (globs) it may call, and its limits and budget."""

    name: Identifier
    models: tuple[str, ...] = ("*",)
    description: str = ""

    def may_use(self, model_id: str) -> bool:
        return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self.models)


class KeyLimits(Limits):
    """Limits and a budget of one API key (by its public id), on top of its customer's."""

    key_id: str = Field(min_length=1, max_length=64)
    customer: Identifier


class Catalog(_Strict):
    """The whole validated catalog. Immutable; reload it to change it."""

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
    def _references(self) -> Catalog:
        _check_unique("engines", [e.id for e in self.engines])
        _check_unique("models", [m.id for m in self.models])
        _check_unique("customers", [c.name for c in self.customers])
        engine_ids = {e.id for e in self.engines}
        model_ids = {m.id for m in self.models}
        for i, m in enumerate(self.models):
            if m.engine not in engine_ids:
                raise _EntryError(("models", i, "engine"), f"unknown engine {m.engine!r}")
            if m.base_model is not None and m.base_model not in model_ids:
                raise _EntryError(("models", i, "base_model"), f"unknown model {m.base_model!r}")
        for m in self.models:
            self._lineage(m.id)  # raises on a cycle
        for i, p in enumerate(self.prices):
            if p.model not in model_ids:
                raise _EntryError(("prices", i, "model"), f"unknown model {p.model!r}")
        seen: set[tuple[str, datetime]] = set()
        for i, p in enumerate(self.prices):
            if (p.model, p.effective_from) in seen:
                raise _EntryError(
                    ("prices", i, "effective_from"),
                    f"model {p.model!r} already has a price effective from {p.effective_from.isoformat()}",
                )
            seen.add((p.model, p.effective_from))
        for i, m in enumerate(self.models):
            if not any(p.model == m.id for p in self.prices):
                raise _EntryError(("models", i, "id"), f"model {m.id!r} has no entry in [[prices]]")
        customer_names = {c.name for c in self.customers}
        _check_unique("key_limits", [k.key_id for k in self.key_limits])
        for i, k in enumerate(self.key_limits):
            if k.customer not in customer_names:
                raise _EntryError(("key_limits", i, "customer"), f"unknown customer {k.customer!r}")
        budgeted = [c.budget for c in self.customers] + [k.budget for k in self.key_limits]
        if any(b is not None for b in budgeted) and len({p.currency for p in self.prices}) > 1:
            raise _EntryError(("prices",), "budgets need every price in one currency")
        terms_errors = validate_terms(
            self.licensors, self.contracts, self.models, self.prices, [c.name for c in self.customers]
        )
        if terms_errors:
            raise _EntryError(terms_errors[0].loc, terms_errors[0].message)
        return self

    # lookups -------------------------------------------------------------------------------

    # Lookups run on every request: index once (the catalog is immutable).
    @cached_property
    def _models_by_id(self) -> dict[str, ModelConfig]:
        return {m.id: m for m in self.models}

    @cached_property
    def _customers_by_name(self) -> dict[str, Customer]:
        return {c.name: c for c in self.customers}

    @cached_property
    def _chains(self) -> dict[str, tuple[str, ...]]:
        return {}

    def model(self, model_id: str) -> ModelConfig | None:
        return self._models_by_id.get(model_id)

    def engine(self, engine_id: str) -> EngineConfig:
        return next(e for e in self.engines if e.id == engine_id)

    def customer(self, name: str) -> Customer | None:
        return self._customers_by_name.get(name)

    @cached_property
    def _key_limits_by_id(self) -> dict[str, KeyLimits]:
        return {k.key_id: k for k in self.key_limits}

    def key_limit(self, key_id: str) -> KeyLimits | None:
        return self._key_limits_by_id.get(key_id)

    def _lineage(self, model_id: str) -> list[ModelConfig]:
        chain: list[ModelConfig] = []
        current = self.model(model_id)
        while current is not None:
            if any(c.id == current.id for c in chain):
                i = next(i for i, m in enumerate(self.models) if m.id == model_id)
                raise _EntryError(("models", i, "base_model"), f"base_model lineage of {model_id!r} is a cycle")
            chain.append(current)
            current = self.model(current.base_model) if current.base_model else None
        return chain

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


class _EntryError(ValueError):
    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _check_unique(section: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise _EntryError((section, i), f"duplicate id {value!r}")
        seen.add(value)


def _describe(loc: tuple[str | int, ...], raw: dict[str, Any]) -> str:
    """`models[1] (id='x').engine` from a pydantic location and the raw TOML."""
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict):
                    key = node.get("id", node.get("name", node.get("model")))
                    if key is not None:
                        label += f" ({'id' if 'id' in node else 'name' if 'name' in node else 'model'}={key!r})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def parse_catalog(raw: dict[str, Any], source: str = "<catalog>") -> Catalog:
    """Validate a catalog already read from TOML; raise ConfigError naming entry and field."""
    try:
        return Catalog.model_validate({**raw, "source": source})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
            ctx_error = err.get("ctx", {}).get("error")
            if isinstance(ctx_error, _EntryError):
                loc, message = ctx_error.loc, ctx_error.message
            else:
                message = str(err["msg"]).removeprefix("Value error, ")
            where = _describe(loc, raw) if loc else "(top level)"
            if err["type"] == "extra_forbidden":
                message = "unknown field (check the spelling; see docs/CONFIG.md)"
            lines.append(f"{source}: {where}: {message}")
        raise ConfigError("\n".join(lines)) from None


def load_catalog(path: str | os.PathLike[str]) -> Catalog:
    """Read and validate a TOML catalog file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such catalog file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_catalog(raw, source=str(p))
