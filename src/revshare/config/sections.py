"""The catalog's sections, one pydantic model per TOML table, and their field parsers.

Each section checks only its own fields (a `ModelConfig` does not know the engines); the checks
that look across sections live in `checks.py`. Every model is strict (an unknown field is an
error) and frozen.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from revshare.config.scaleout_sections import ROUTE_PREFIX, EngineChoice
from revshare.instants import coerce_instant, format_instant
from revshare.money import catalog_amount

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "BudgetPeriod",
    "Customer",
    "EngineConfig",
    "Identifier",
    "KeyLimits",
    "Limits",
    "LogConfig",
    "ModelConfig",
    "Price",
    "ServerConfig",
    "WitnessConfig",
]


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


# What a request without max_tokens gets when its model sets no default_max_tokens (at most the
# model's limit): enough for a long answer, and a bound on a base model that never stops.
DEFAULT_MAX_TOKENS = 512

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
    # One access-log line per request on logger `revshare.access` (docs/OPERATIONS.md): `text`
    # (key=value), `json`, or `off`. Never prompt or completion text, never a secret.
    access_log: Literal["text", "json", "off"] = "text"
    # GET /metrics is unauthenticated unless this names an environment variable holding a token.
    metrics_token_env: str | None = None
    # How long an Idempotency-Key's stored response (completion text) is kept for replays, from the
    # first request; then it is deleted and the key may be used again as a new request (RELIABILITY.md).
    idempotency_retention_s: float = Field(default=86_400.0, ge=60, le=30 * 86_400, strict=True)
    # The HTTP edge (docs/RELIABILITY.md, "Limits"): a request's head (request line and headers)
    # larger than max_header_bytes gets 431, one not complete header_timeout_s after its first byte
    # (or after the connection opened) gets 408; past max_connections open connections a new one
    # gets 503. An idle keep-alive connection is closed after keep_alive_timeout_s.
    max_header_bytes: int = Field(default=32_768, ge=1024, le=1_048_576, strict=True)
    header_timeout_s: float = Field(default=10.0, gt=0, le=600)
    max_connections: int = Field(default=1000, ge=1, le=1_000_000, strict=True)
    keep_alive_timeout_s: float = Field(default=5.0, gt=0, le=3600)
    # How often each gateway process checks whether customers or keys changed (one small read).
    accounts_refresh_s: float = Field(default=1.0, gt=0, le=60)
    # How often each gateway folds newly appended records into the usage rollups (GET /admin/usage).
    rollup_interval_s: float = Field(default=2.0, gt=0, le=3600)


class LogConfig(_Strict):
    """The verifiable log (docs/TLOG.md): how often to integrate and sign, names, key file."""

    interval_s: float = Field(default=2.0, gt=0, le=3600)
    # Origins are `<origin_prefix>/<log id>`; default `<server.host_name>/revshare`.
    origin_prefix: str | None = Field(default=None, pattern=r"^[^\s+]+$")
    # The host's Ed25519 signing key; default `<server.data_dir>/log.key`, created on first start.
    key_path: str | None = None
    # How many of the [[witnesses]] must cosign a checkpoint for the host to count it witnessed (its
    # log state, its warnings); default: all of them. The host submits to every witness regardless.
    witness_quorum: int | None = Field(default=None, ge=1, strict=True)


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
    # Routing (a model naming several engines, docs/CONFIG.md "Several engines per model"): after
    # `failure_threshold` failures in a row the engine is taken out; after `cooldown_s` a health
    # check that it answers puts it back. Health is checked every `health_interval_s`.
    failure_threshold: int = Field(default=3, ge=1, le=1000, strict=True)
    cooldown_s: float = Field(default=10.0, gt=0, le=3600)
    health_interval_s: float = Field(default=5.0, gt=0, le=3600)

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
    """A model the gateway serves, the engine (or engines) that run it and its lineage.

    `engine = "gpu0"` names one engine; `engines = ["gpu0", {id = "gpu1", weight = 2}]` names
    several, and requests are routed across the healthy ones. With `engines`, `engine` is the
    router's id, `route:<model id>` (set here; the catalog may not set both).
    """

    id: Identifier
    engine: str
    engines: tuple[EngineChoice, ...] = ()
    # What the model serves: "chat" (chat and text completions, /v1/responses) or "embedding"
    # (/v1/embeddings only, priced per input token by its price's input_per_million).
    kind: Literal["chat", "embedding"] = "chat"
    upstream_model: str | None = None
    licensor: str | None = None
    base_model: str | None = None
    context_length: int = Field(default=2048, ge=16)
    # The most completion tokens a request may ask for (more is refused with 400), and what a
    # request that sets no max_tokens gets; unset: the context length, and 512 or that if lower.
    max_tokens_limit: int | None = Field(default=None, ge=1)
    default_max_tokens: int | None = Field(default=None, ge=1)
    # Embedded only: llama-cpp-python's chat format (e.g. "chatml", "llama-3") or "text". Unset:
    # the GGUF's own chat template, or "text" (the messages continued as plain text) without one.
    chat_format: str | None = Field(default=None, min_length=1)
    # Counts tokens when an upstream engine reports no usage: a GGUF file (only its vocabulary
    # is loaded) or "bundled" for the embedded Gemma package. Without one, counts are rougher.
    tokenizer: str | None = None
    description: str = ""
    # The `[[licences]]` id whose terms bind the host for this model (inherited along base_model).
    licence: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_or_several_engines(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        choices, engine = data.get("engines"), data.get("engine")
        if choices is not None and not isinstance(choices, list | tuple):
            raise ValueError("engines: want a list of engine ids or {id, weight} tables")
        if not choices:  # absent, or empty beside an engine (as a dumped catalog has it)
            if engine is None:
                raise ValueError("engines: want a non-empty list of engine ids or {id, weight} tables"
                                 if choices is not None else
                                 "a model needs engine (an engine's id) or engines (several, to route across)")
            return data
        route = f"{ROUTE_PREFIX}{data.get('id')}"
        if engine is not None and engine != route:
            raise ValueError("give engine (one) or engines (several), not both")
        return {**data, "engine": route,
                "engines": [{"id": c} if isinstance(c, str) else c for c in choices]}

    @field_validator("engines")
    @classmethod
    def _distinct_engines(cls, value: tuple[EngineChoice, ...]) -> tuple[EngineChoice, ...]:
        ids = [c.id for c in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"an engine is named twice in {ids}")
        return value

    @field_validator("max_tokens_limit")
    @classmethod
    def _limit_fits_context(cls, value: int | None, info: ValidationInfo) -> int | None:
        context = info.data.get("context_length")
        if value is not None and context is not None and value > context:
            raise ValueError(f"{value} is more than context_length ({context})")
        return value

    @field_validator("default_max_tokens")
    @classmethod
    def _default_fits_limit(cls, value: int | None, info: ValidationInfo) -> int | None:
        limit, context = info.data.get("max_tokens_limit"), info.data.get("context_length")
        if value is not None and limit is not None and value > limit:
            raise ValueError(f"{value} is more than max_tokens_limit ({limit})")
        if value is not None and limit is None and context is not None and value > context:
            raise ValueError(f"{value} is more than context_length ({context})")
        return value

    @property
    def served_name(self) -> str:
        """The name the engine knows the model by."""
        return self.upstream_model or self.id

    @property
    def most_max_tokens(self) -> int:
        """The most max_tokens a request may ask for: `max_tokens_limit`, else the context length."""
        return self.max_tokens_limit or self.context_length

    @property
    def max_tokens_when_unset(self) -> int:
        """The max_tokens of a request that sets none: `default_max_tokens`, else
        `DEFAULT_MAX_TOKENS` or the most allowed if lower."""
        return self.default_max_tokens or min(DEFAULT_MAX_TOKENS, self.most_max_tokens)

    def max_tokens_for(self, requested: int | None) -> int:
        """The max_tokens a request runs with: its own, or the model's default."""
        return requested if requested is not None else self.max_tokens_when_unset


class Price(_Strict):
    """One version of a model's price: per million input and output tokens, from an instant.

    `effective_from` is held in UTC (a date is its midnight UTC, a time without a zone is UTC).
    """

    model: str
    input_per_million: Decimal
    output_per_million: Decimal
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    effective_from: datetime

    _money_in = field_validator("input_per_million", "output_per_million", mode="before")(
        lambda v: _price_money(v)
    )
    _time = field_validator("effective_from", mode="before")(lambda v: coerce_instant(v))

    @property
    def version(self) -> str:
        """Stable id of this price version, kept on every record it rates: `<model>@<UTC, whole
        seconds>Z`, e.g. `gemma-3-270m@2026-01-01T00:00:00Z`. Changing it changes records."""
        return _price_version(self.model, self.effective_from)


@functools.lru_cache(maxsize=4096)  # a request reads its price's version three times
def _price_version(model: str, effective_from: datetime) -> str:
    return f"{model}@{format_instant(effective_from, 'seconds')}"


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


# A witness's C2SP vkey: `<name>+<8 hex digits>+<base64(0x04 || Ed25519 public key)>`. The config
# room may not import revshare.tlog (tests/architecture), so its form is checked here by hand, the
# way revshare.tlog.cosignature.CosignatureVerifier.from_text reads it; a test
# (tests/witness/test_host_config.py) holds the two in agreement.
_COSIGNATURE_V1 = 0x04


def _witness_vkey(value: str) -> str:
    text = value.strip()
    name, sep, rest = text.partition("+")
    hex_id, sep2, b64 = rest.partition("+")
    if not (sep and sep2):
        raise ValueError("want the witness's vkey, <name>+<hex key id>+<base64 key> (the last line "
                         "`revshare witness init` prints)")
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"key name {name!r}: want non-empty, without spaces")
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id.lower()):
        raise ValueError(f"key id {hex_id!r}: want 8 hex digits")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key is not base64") from None
    if not raw or raw[0] != _COSIGNATURE_V1:
        got = f"0x{raw[0]:02x}" if raw else "nothing"
        hint = " (0x01: a log's key, e.g. the host's, not a witness's)" if raw and raw[0] == 0x01 else ""
        raise ValueError(f"key algorithm {got}{hint}: want 0x04, a witness's cosignature/v1 key")
    if len(raw) != 33:
        raise ValueError(f"the Ed25519 key has {len(raw) - 1} bytes, want 32")
    want = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex()
    if hex_id.lower() != want:
        raise ValueError(f"key id {hex_id} is not that of this name and key ({want}): a mangled vkey")
    return text


class WitnessConfig(_Strict):
    """A witness the host submits each new checkpoint of each log to (C2SP tlog-witness).

    `name` is the host's name for it (in its logs and log state); `url` its base URL (the host
    POSTs `<url>/add-checkpoint`); `vkey` its cosignature/v1 verifier key: a cosignature is kept
    only once it verifies under it (docs/TLOG.md, "Witness").
    """

    name: Identifier
    url: str = Field(min_length=1, max_length=2000)
    vkey: str = Field(min_length=1, max_length=1000)
    # Seconds one add-checkpoint request may take; a slower or unreachable witness is tried again later.
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    # The logs it follows (licensor ids, `_host`); default every log. A licensor's witness follows its own.
    logs: tuple[str, ...] | None = Field(default=None, min_length=1)

    _vkey = field_validator("vkey")(lambda v: _witness_vkey(v))

    @field_validator("url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"want the witness's base URL, starting with http:// or https://, got {value!r}")
        if any(c in value for c in "?#") or any(c.isspace() for c in value):
            raise ValueError(f"want a base URL without query, fragment or spaces, got {value!r}")
        return value.rstrip("/")

    @property
    def key(self) -> str:
        """The witness's key as its cosignatures are stored under: `<name>+<hex key id>`."""
        name, hex_id, _ = self.vkey.split("+", 2)
        return f"{name}+{hex_id.lower()}"
