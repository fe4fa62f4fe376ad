"""The most a request can use, before it runs: the bound that limits and budgets reserve.

Prompt tokens are bounded by the prompt's UTF-8 bytes (a byte-level tokenizer never makes more
tokens than bytes of text) plus a chat template allowance per message, capped at the model's
context; completion tokens by max_tokens, or the whole context when the client sets none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from revshare.config import BudgetPeriod, Price
from revshare.metering.rating import rate
from revshare.metering.reservation import to_units

__all__ = ["Bound", "budget_period", "request_bound"]

TEMPLATE_TOKENS_PER_MESSAGE = 8
TEMPLATE_TOKENS = 16


@dataclass(frozen=True, slots=True)
class Bound:
    prompt_tokens: int
    completion_tokens: int
    units: int  # most cost, in budget units, rounded up

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _size(value: Any) -> int:
    """UTF-8 bytes of a text, or of a value as JSON. Never raises: a lone surrogate (which the API
    refuses) counts its three bytes, and a wire model counts as its JSON."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if value is None:
        return 0
    return len(json.dumps(value, ensure_ascii=False, default=_plain).encode("utf-8", "surrogatepass"))


def _field(value: Any, name: str) -> Any:
    """A field of a wire model, None where its kind has no such field. Read from the instance's
    `__dict__`, where pydantic keeps every field (the wire models forbid extras): `getattr` with a
    default would run pydantic's `__getattr__` for each missing one, which builds and catches an
    AttributeError in Python."""
    fields = getattr(value, "__dict__", None)
    return fields.get(name) if fields is not None else getattr(value, name, None)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is None:
        raise TypeError(f"cannot size a {type(value).__name__}")
    return dump(exclude_none=True)


def request_bound(body: Any, context_length: int, max_tokens: int | None, price: Price) -> Bound:
    """The most tokens and cost of one request (chat or text completion body)."""
    messages = _field(body, "messages")
    if messages is not None:
        size = sum(_size(_field(m, "content")) + _size(_field(m, "name")) + _size(_field(m, "tool_calls"))
                   + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)
        size += _size(_field(body, "tools")) + _size(_field(body, "response_format"))
    else:
        size = _size(_field(body, "prompt"))
    prompt = min(context_length, size + TEMPLATE_TOKENS)
    completion = min(max_tokens or context_length, context_length)
    return Bound(prompt, completion, to_units(rate(price, prompt, completion).amount))


def budget_period(period: BudgetPeriod, now: datetime | None = None) -> str:
    """The key of the budget period containing `now` (UTC)."""
    now = now or datetime.now(UTC)
    if period == "total":
        return "total"
    if period == "day":
        return now.strftime("%Y-%m-%d")
    return now.strftime("%Y-%m")
