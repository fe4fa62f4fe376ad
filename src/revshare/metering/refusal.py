"""Why a request is not run: a refusal is a value (kind, message, param), never an HTTP status.

Admission and leases return or raise these; the API maps each kind to its status in one table
(`revshare.api.errors`). A kind's value is the `code` the client sees in the OpenAI error body.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Refusal", "RefusalKind", "Refused"]


class RefusalKind(StrEnum):
    MODEL_NOT_FOUND = "model_not_found"
    MODEL_NOT_ALLOWED = "model_not_allowed"
    TERMS_NOT_ACCEPTED = "terms_not_accepted"  # the model's licence terms wait for the customer's acceptance
    MODEL_ACCESS_SUSPENDED = "model_access_suspended"  # the operator suspended it (a use-policy violation)
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    NO_PRICE = "no_price"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    RATE_LIMITED = "rate_limit_exceeded"
    BUDGET_EXCEEDED = "budget_exceeded"  # cannot be covered even with nothing in flight: final
    BUDGET_RESERVED_IN_FLIGHT = "budget_reserved_in_flight"  # held by requests still running: retry
    LEDGER_UNAVAILABLE = "ledger_unavailable"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request refused before (or instead of) running. `retry_after` is in seconds."""

    kind: RefusalKind
    message: str
    param: str | None = None
    retry_after: int | None = None


class Refused(Exception):
    """Raised by the serving core to carry a `Refusal` up to the API boundary."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
