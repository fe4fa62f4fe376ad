"""The usage record: one immutable row per request, the unit everything else is built on.

A record never holds prompt or completion text. Its amount is a Decimal kept at 12 places,
rated from the price-book version in force when the request started.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from revshare.instants import format_instant, parse_instant
from revshare.money import D, money_str

__all__ = ["Outcome", "UsageRecord"]


class Outcome(enum.StrEnum):
    """How a request ended. Only `ok` and `client_disconnect` are charged."""

    OK = "ok"
    CLIENT_DISCONNECT = "client_disconnect"
    ENGINE_ERROR = "engine_error"
    REJECTED = "rejected"

    @property
    def charged(self) -> bool:
        return self in (Outcome.OK, Outcome.CLIENT_DISCONNECT)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One metered request.

    Attributes:
      id: the record id, also the receipt id the client sees (``rec_...``).
      seq: gapless position in the ledger, assigned at append; None before.
      idempotency_key: the client's Idempotency-Key header, if any.
      started_at, ended_at: timezone-aware UTC times.
      customer: the customer's catalog name; key_id: the public id of the API key used.
      model: the catalog model id that answered; licensors: its licensor chain, by lineage.
      engine: the engine id from the catalog.
      endpoint: "chat.completions", "completions", "embeddings" or "responses"; stream: whether it was
        streamed.
      prompt_tokens, completion_tokens, cached_tokens: as counted by the engine.
      estimated: True when the engine gave no usage and revshare counted with a tokenizer.
      outcome: how the request ended.
      price_version: the price-book version that rated it ("" when nothing was charged).
      amount: Decimal at 12 places; zero when the outcome is not charged.
      currency: ISO 4217 code of the amount.
      error_code: short machine code for a failed request, else "".
      end_user: the keyed hash of the request's `user` field (never the field itself), "" when it
        had none; not in the log leaf (docs/LICENSING.md, "End users").
    """

    id: str
    started_at: datetime
    ended_at: datetime
    customer: str
    key_id: str
    model: str
    engine: str
    endpoint: str
    outcome: Outcome
    prompt_tokens: int
    completion_tokens: int
    amount: Decimal
    currency: str
    price_version: str
    licensors: tuple[str, ...] = ()
    cached_tokens: int = 0
    estimated: bool = False
    stream: bool = False
    idempotency_key: str | None = None
    error_code: str = ""
    end_user: str = ""
    seq: int | None = field(default=None)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: money as a string, times as RFC 3339 UTC."""
        return {
            "id": self.id,
            "seq": self.seq,
            "idempotency_key": self.idempotency_key,
            "started_at": format_instant(self.started_at),
            "ended_at": format_instant(self.ended_at),
            "customer": self.customer,
            "key_id": self.key_id,
            "model": self.model,
            "licensors": list(self.licensors),
            "engine": self.engine,
            "endpoint": self.endpoint,
            "stream": self.stream,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "estimated": self.estimated,
            "outcome": self.outcome.value,
            "price_version": self.price_version,
            "amount": money_str(self.amount),
            "currency": self.currency,
            "error_code": self.error_code,
            "end_user": self.end_user,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsageRecord:
        return cls(
            id=data["id"],
            seq=data.get("seq"),
            idempotency_key=data.get("idempotency_key"),
            started_at=parse_instant(data["started_at"]),
            ended_at=parse_instant(data["ended_at"]),
            customer=data["customer"],
            key_id=data["key_id"],
            model=data["model"],
            licensors=tuple(data.get("licensors", ())),
            engine=data["engine"],
            endpoint=data["endpoint"],
            stream=bool(data.get("stream", False)),
            prompt_tokens=int(data["prompt_tokens"]),
            completion_tokens=int(data["completion_tokens"]),
            cached_tokens=int(data.get("cached_tokens", 0)),
            estimated=bool(data.get("estimated", False)),
            outcome=Outcome(data["outcome"]),
            price_version=data["price_version"],
            amount=D(data["amount"]),
            currency=data["currency"],
            error_code=data.get("error_code", ""),
            end_user=data.get("end_user", ""),
        )
