"""The contract terms a statement bundle carries, so that a licensor can recompute the statement.

    terms.json = {"type": "revshare.statement-terms/v1", "host": ..., "licensor": {...},
                  "contracts": [...], "models": [{"id", "base_model", "kind"}], "prices": [...],
                  "pseudonyms": {"customers": {name: hex}, "keys": {key id: hex}},
                  "credits": [...], "credit_pieces": [...]}

`StatementTerms` is what `settle()` reads of a catalog (`CatalogLike`): the licensor's own
contracts (every version), the models the leaves name with their lineage, and the price
versions the leaves reference. The leaves show customers and keys only as HMAC pseudonyms;
`pseudonyms` gives the pseudonym of each customer and key the contracts exempt (the contract
names them, so the licensor knows them already), and `for_leaves()` rewrites the exemptions
into pseudonyms. Credits are not usage and are not in the log: the bundle states each credit
of the period (customer as pseudonym) and where it landed on this licensor's models; the
verifier checks their arithmetic, not their existence (docs/VERIFY.md).

Pure: no I/O; money as strings, never floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, cast

from revshare.instants import format_instant, parse_instant
from revshare.money import D, money_str
from revshare.settlement.adjustments import Credit, CreditPiece
from revshare.settlement.kinds import CHAT, MODEL_KINDS
from revshare.settlement.terms import ContractConfig, LicensorConfig

__all__ = ["HostTerms", "ModelTerms", "PriceTerms", "StatementTerms"]

TERMS_TYPE = "revshare.statement-terms/v1"


@dataclass(frozen=True, slots=True)
class HostTerms:
    host_name: str


@dataclass(frozen=True, slots=True)
class ModelTerms:
    """A model, the base model it is a fine-tune of (lineage scopes contracts), and its kind
    ("chat" or "embedding": what its lines bill, `settlement.kinds`; terms.json written before
    kinds has none, and such a model is chat)."""

    id: str
    base_model: str | None = None
    kind: str = CHAT


@dataclass(frozen=True, slots=True)
class PriceTerms:
    """One price version, as the leaves name it (`price_version`)."""

    model: str
    version: str
    currency: str
    input_per_million: Decimal
    output_per_million: Decimal


@dataclass(frozen=True, slots=True)
class StatementTerms:
    """Everything besides the leaves that a statement's figures are computed from.

    Attributes:
      server: the host's name, as on the statement. licensors: the licensor (one).
      contracts: every version of the licensor's contracts. models, prices: see the module docstring.
      customers, keys: pseudonym of each exempt customer name and key id.
      credits, credit_pieces: the period's credits (customer as pseudonym) and their pieces on
        this licensor's models (key as pseudonym).
    """

    server: HostTerms
    licensors: tuple[LicensorConfig, ...]
    contracts: tuple[ContractConfig, ...]
    models: tuple[ModelTerms, ...]
    prices: tuple[PriceTerms, ...]
    customers: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)
    credits: tuple[Credit, ...] = ()
    credit_pieces: tuple[CreditPiece, ...] = ()

    def for_leaves(self) -> StatementTerms:
        """These terms with each contract's exemptions written as the leaves' pseudonyms."""
        contracts = tuple(c.model_copy(update={
            "exempt_customers": tuple(self.customers.get(n, n) for n in c.exempt_customers),
            "exempt_keys": tuple(self.keys.get(k, k) for k in c.exempt_keys),
        }) for c in self.contracts)
        return replace(self, contracts=contracts)

    def names(self) -> tuple[dict[str, str], dict[str, str]]:
        """Pseudonym -> name, for customers and for keys (to show recomputed segments as issued)."""
        return {v: k for k, v in self.customers.items()}, {v: k for k, v in self.keys.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "type": TERMS_TYPE,
            "host": self.server.host_name,
            "licensors": [lic.model_dump(mode="json") for lic in self.licensors],
            "contracts": [c.model_dump(mode="json", exclude_none=True) for c in self.contracts],
            "models": [{"id": m.id, "base_model": m.base_model, "kind": m.kind} for m in self.models],
            "prices": [{"model": p.model, "version": p.version, "currency": p.currency,
                        "input_per_million": money_str(p.input_per_million),
                        "output_per_million": money_str(p.output_per_million)} for p in self.prices],
            "pseudonyms": {"customers": dict(sorted(self.customers.items())), "keys": dict(sorted(self.keys.items()))},
            "credits": [{"id": c.id, "customer": c.customer, "amount": money_str(c.amount), "currency": c.currency,
                         "date": format_instant(c.date), "reason": c.reason, "kind": c.kind, "model": c.model,
                         "refers_to": c.refers_to} for c in self.credits],
            "credit_pieces": [{"credit_id": p.credit_id, "model": p.model, "key_id": p.key_id, "segment": p.segment,
                               "amount": money_str(p.amount)} for p in self.credit_pieces],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatementTerms:
        """Parse terms.json; raises KeyError, TypeError or ValueError (pydantic's) on a malformed one."""
        if data.get("type") != TERMS_TYPE:
            raise ValueError(f"not {TERMS_TYPE}: type is {data.get('type')!r}")
        pseudo = data.get("pseudonyms", {})
        return cls(
            HostTerms(str(data["host"])),
            tuple(LicensorConfig.model_validate(x) for x in data["licensors"]),
            tuple(ContractConfig.model_validate(x) for x in data["contracts"]),
            tuple(ModelTerms(str(m["id"]), m.get("base_model"), _kind(m.get("kind", CHAT))) for m in data["models"]),
            tuple(PriceTerms(str(p["model"]), str(p["version"]), str(p["currency"]), D(p["input_per_million"]),
                             D(p["output_per_million"])) for p in data["prices"]),
            dict(pseudo.get("customers", {})), dict(pseudo.get("keys", {})),
            tuple(Credit(str(c["id"]), str(c["customer"]), D(c["amount"]), str(c["currency"]),
                         parse_instant(c["date"]), str(c["reason"]), cast(Any, c["kind"]), c.get("model"),
                         c.get("refers_to"))
                  for c in data.get("credits", ())),
            tuple(CreditPiece(str(p["credit_id"]), p.get("model"), str(p["key_id"]), int(p["segment"]),
                              D(p["amount"])) for p in data.get("credit_pieces", ())),
        )


def _kind(value: object) -> str:
    if value not in MODEL_KINDS:
        raise ValueError(f"a model's kind is one of {', '.join(MODEL_KINDS)}, not {value!r}")
    return str(value)


def models_with_lineage(model_ids: Iterable[str], models: Iterable[Any]) -> tuple[ModelTerms, ...]:
    """The named models and every base model up their lineage, as ModelTerms (sorted by id)."""
    by_id = {m.id: m for m in models}
    out: dict[str, ModelTerms] = {}
    todo = list(model_ids)
    while todo:
        current = todo.pop()
        if current in out:
            continue
        found = by_id.get(current)
        base = getattr(found, "base_model", None) if found is not None else None
        out[current] = ModelTerms(current, base, str(getattr(found, "kind", CHAT)))
        if base is not None:
            todo.append(base)
    return tuple(out[k] for k in sorted(out))
