"""Admission: may this key run this request now? A pure decision over the catalog.

    admit(catalog, engines, ask, customers=directory) -> Admitted | Refusal

The checks, in order: the model exists, the customer may use it, max_tokens is within the model's
limit (its `max_tokens_limit`, else its context), a price is in force, its engine is running. An
`Admitted` fixes who, what, the licensor chain and the price version *when the request starts*;
limits and budgets come after, with the lease. A request that sets no max_tokens runs with the
model's default (`ModelConfig.max_tokens_for`, applied by the engines).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from revshare.config import Catalog, ModelConfig
from revshare.config.sections import Customer
from revshare.engines.base import Endpoint
from revshare.instants import utc_now
from revshare.metering.meter import Admitted
from revshare.metering.refusal import Refusal, RefusalKind

__all__ = ["Ask", "Customers", "admit"]


class Customers(Protocol):
    """Where customers are looked up: the gateway's accounts directory, or a catalog alone."""

    def customer(self, name: str) -> Customer | None: ...


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


def admit(catalog: Catalog, engines: Container[str], ask: Ask, now: datetime | None = None, *,
          customers: Customers | None = None) -> Admitted | Refusal:
    """Let the request in, or say why not. Customers come from `customers` (default: the catalog)."""
    model = catalog.model(ask.model)
    if model is None:
        return Refusal(RefusalKind.MODEL_NOT_FOUND, f"the model {ask.model!r} does not exist; see GET /v1/models",
                       param="model")
    customer = (customers or catalog).customer(ask.customer)
    if customer is None or not customer.may_use(model.id):
        return Refusal(RefusalKind.MODEL_NOT_ALLOWED, f"this key may not use the model {model.id!r}", param="model")
    if ask.max_tokens is not None and ask.max_tokens > model.most_max_tokens:
        return _too_many_tokens(model, ask.max_tokens)
    price = catalog.price_at(model.id, now or utc_now())
    if price is None:
        return Refusal(RefusalKind.NO_PRICE, f"no price is in force yet for {model.id!r}; the operator must add one")
    if model.engine not in engines:
        return Refusal(RefusalKind.ENGINE_UNAVAILABLE, f"engine {model.engine!r} is not available")
    return Admitted(
        customer=ask.customer, key_id=ask.key_id, model=model, licensors=catalog.licensor_chain(model.id),
        price=price, endpoint=ask.endpoint, stream=ask.stream, idempotency_key=ask.idempotency_key,
    )


def _too_many_tokens(model: ModelConfig, requested: int) -> Refusal:
    """A 400 naming max_tokens, the model's limit, and what a request without max_tokens gets."""
    if model.max_tokens_limit is None:
        message = f"max_tokens is {requested}, but {model.id!r} has a context of {model.context_length} tokens"
    else:
        message = f"max_tokens is {requested}, but {model.id!r} allows at most {model.max_tokens_limit}"
    return Refusal(RefusalKind.CONTEXT_LENGTH_EXCEEDED,
                   f"{message}; leave max_tokens out for the default of {model.max_tokens_when_unset}",
                   param="max_tokens")
