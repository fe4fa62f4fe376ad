"""Admission: may this key run this request now? A pure decision over the catalog.

    admit(catalog, engines, ask, customers=directory) -> Admitted | Refusal

The checks, in order: the model exists, the customer may use it, its access to that model is not
suspended (`Suspensions`: accounts.model_access), the customer accepted the terms
of each licence that binds the model and asks for acceptance (`LicenceTerms.allows`: the current
version, or an earlier one within its grace period; read from the directory, no query), max_tokens
is within the model's limit (its `max_tokens_limit`, else its context), a price is in force, its
engine is running. An
`Admitted` fixes who, what, the licensor chain and the price version *when the request starts*;
limits and budgets come after, with the lease. A request that sets no max_tokens runs with the
model's default (`ModelConfig.max_tokens_for`, applied by the engines).
"""

from __future__ import annotations

from collections.abc import Collection, Container
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeGuard, runtime_checkable

from revshare.config import Catalog, ModelConfig
from revshare.config.catalog import LicenceTerms
from revshare.config.sections import Customer
from revshare.engines.base import Endpoint
from revshare.instants import format_instant, utc_now
from revshare.metering.meter import Admitted
from revshare.metering.refusal import Refusal, RefusalKind

__all__ = ["Acceptances", "Ask", "Customers", "Suspensions", "admit", "terms_refusal"]


class Customers(Protocol):
    """Where customers are looked up: the gateway's accounts directory, or a catalog alone."""

    def customer(self, name: str) -> Customer | None: ...


@runtime_checkable
class Suspensions(Protocol):
    """Where suspensions of one customer's access to one model are looked up: the directory."""

    def suspension(self, customer: str, model: str) -> str | None: ...


@runtime_checkable
class Acceptances(Protocol):
    """Where accepted licence terms are looked up: the gateway's accounts directory. Customers
    looked up elsewhere (a catalog alone) have accepted nothing."""

    def accepted_versions(self, customer: str, licence: str) -> Collection[str]: ...


@dataclass(frozen=True, slots=True)
class Ask:
    """What a request asks for, as admission needs it (no prompt text)."""

    customer: str
    key_id: str
    model: str
    endpoint: Endpoint
    stream: bool
    max_tokens: int | None = None
    idempotency_key: str | None = None
    end_user: str = ""  # the keyed hash of the request's `user` (accounts.end_users), never the field


def admit(catalog: Catalog, engines: Container[str], ask: Ask, now: datetime | None = None, *,
          customers: Customers | None = None) -> Admitted | Refusal:
    """Let the request in, or say why not. Customers come from `customers` (default: the catalog), and
    so do the terms they accepted when it is `Acceptances` too."""
    now = now or utc_now()
    model = catalog.model(ask.model)
    if model is None:
        return Refusal(RefusalKind.MODEL_NOT_FOUND, f"the model {ask.model!r} does not exist; see GET /v1/models",
                       param="model")
    customer = (customers or catalog).customer(ask.customer)
    if customer is None or not customer.may_use(model.id):
        return Refusal(RefusalKind.MODEL_NOT_ALLOWED, f"this key may not use the model {model.id!r}", param="model")
    reason = customers.suspension(ask.customer, model.id) if _suspends(customers) else None
    if reason is not None:
        return Refusal(RefusalKind.MODEL_ACCESS_SUSPENDED,
                       f"the customer {ask.customer!r}'s access to the model {model.id!r} is suspended for a "
                       f"violation of its use policy ({reason}); other models are not affected; ask the host to "
                       "lift it", param="model")
    for terms in catalog.licence_chain(model.id):
        if terms.acceptance_required:
            accepted = customers.accepted_versions(ask.customer, terms.id) if _accepts(
                customers) else ()
            if not terms.allows(accepted, now):
                return terms_refusal(terms, model.id, ask.customer, accepted)
    if ask.max_tokens is not None and ask.max_tokens > model.most_max_tokens:
        return _too_many_tokens(model, ask.max_tokens)
    price = catalog.price_at(model.id, now)
    if price is None:
        return Refusal(RefusalKind.NO_PRICE, f"no price is in force yet for {model.id!r}; the operator must add one")
    if model.engine not in engines:
        return Refusal(RefusalKind.ENGINE_UNAVAILABLE, f"engine {model.engine!r} is not available")
    return Admitted(
        customer=ask.customer, key_id=ask.key_id, model=model, licensors=catalog.licensor_chain(model.id),
        price=price, endpoint=ask.endpoint, stream=ask.stream, idempotency_key=ask.idempotency_key,
        end_user=ask.end_user,
    )


def _suspends(customers: object) -> TypeGuard[Suspensions]:
    return _provides(type(customers), Suspensions)


def _accepts(customers: object) -> TypeGuard[Acceptances]:
    return _provides(type(customers), Acceptances)


_PROVIDES: dict[tuple[type, type], bool] = {}


def _provides(kind: type, protocol: type) -> bool:
    """`isinstance` against a runtime-checkable Protocol walks the protocol's members on every
    call (about 15 µs a request in CPython 3.11); a type's answer never changes, so each type is
    asked once. Both protocols here hold methods only, which `issubclass` can check."""
    known = _PROVIDES.get((kind, protocol))
    if known is None:
        known = _PROVIDES[(kind, protocol)] = issubclass(kind, protocol)
    return known


def _too_many_tokens(model: ModelConfig, requested: int) -> Refusal:
    """A 400 naming max_tokens, the model's limit, and what a request without max_tokens gets."""
    if model.max_tokens_limit is None:
        message = f"max_tokens is {requested}, but {model.id!r} has a context of {model.context_length} tokens"
    else:
        message = f"max_tokens is {requested}, but {model.id!r} allows at most {model.max_tokens_limit}"
    return Refusal(RefusalKind.CONTEXT_LENGTH_EXCEEDED,
                   f"{message}; leave max_tokens out for the default of {model.max_tokens_when_unset}",
                   param="max_tokens")


def terms_refusal(terms: LicenceTerms, model: str, customer: str, accepted: Collection[str]) -> Refusal:
    """A 403 naming the terms, the version to accept, where to read them and how to accept."""
    read = f"read them at {terms.url}" + (f" (use policy: {terms.use_policy_url})" if terms.use_policy_url else "")
    earlier = ""
    if accepted:
        until = terms.grace_until
        ended = f"; the grace period for earlier versions ended at {format_instant(until)}" if until else ""
        earlier = f" (it accepted version {', '.join(sorted(accepted))}{ended})"
    return Refusal(RefusalKind.TERMS_NOT_ACCEPTED,
                   f"the model {model!r} is provided under the {terms.name}, version {terms.version}, which the "
                   f"customer {customer!r} has not accepted{earlier}: {read}, then accept them with "
                   f"POST /v1/me/terms/{terms.id}/accept and the body {{\"version\": \"{terms.version}\"}}",
                   param="model")
